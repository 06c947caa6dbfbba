/**
 * HTTP/1.1 keep-alive: the gate advertises FLUXGATE_HTTP1_KEEP_ALIVE_TIMEOUT_MS and closes a
 * connection idle that long, over cleartext and over TLS (allowHTTP1). Its default (65 s) is
 * longer than the idle timeouts of common clients and load balancers, so that they close an
 * idle connection first instead of sending on one the gate is closing (EPIPE, ECONNRESET).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, describe, expect, test } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { startGate, type RunningGate } from '../../src/main-gate.js';
import { isolatedConfig } from '../support/stack.js';

const keepAliveMs = 1500;
const gates: RunningGate[] = [];
afterAll(async () => {
  await Promise.all(gates.map((g) => g.close()));
});

const healthCheck =
  'POST /grpc.health.v1.Health/Check HTTP/1.1\r\nHost: gate\r\nContent-Type: application/json\r\n' +
  'Content-Length: 2\r\n\r\n{}';

/**
 * Sends one Health/Check on `socket` and resolves with the response's head, then with the
 * socket's close (by the gate: the client never ends it).
 */
function checkThenIdle(socket: net.Socket): { head: Promise<string>; closed: Promise<void> } {
  let received = '';
  const head = new Promise<string>((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
      const end = received.indexOf('\r\n\r\n');
      if (end >= 0) resolve(received.slice(0, end));
    });
    socket.once('error', reject);
  });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.write(healthCheck);
  return { head, closed };
}

describe('HTTP/1.1 keep-alive', () => {
  test('the default is longer than a 60 s load balancer idle timeout', () => {
    expect(loadConfig({}).http1KeepAliveTimeoutMs).toBeGreaterThan(60_000);
  });

  test('cleartext: the configured timeout is advertised, and an idle connection is closed after it', async () => {
    const gate = await startGate(isolatedConfig({ http1KeepAliveTimeoutMs: keepAliveMs }));
    gates.push(gate);
    const socket = net.connect(Number(new URL(gate.url).port), '127.0.0.1');
    const { head, closed } = checkThenIdle(socket);
    expect(await head).toMatch(/^HTTP\/1\.1 200 /);
    expect(await head).toMatch(/\r\nKeep-Alive: timeout=1(\r\n|$)/i);
    await closed; // by the gate (the test's timeout fails it otherwise)
  });

  test('TLS: the same for HTTP/1.1 clients of the TLS server', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'fluxgate-tls-'));
    const [certFile, keyFile] = [path.join(dir, 'cert.pem'), path.join(dir, 'key.pem')];
    execFileSync('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      keyFile,
      '-out',
      certFile,
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
    ]);
    const gate = await startGate(
      isolatedConfig({
        http1KeepAliveTimeoutMs: keepAliveMs,
        tlsCertFile: certFile,
        tlsKeyFile: keyFile,
      }),
    );
    gates.push(gate);
    const socket = tls.connect({
      port: Number(new URL(gate.url).port),
      host: '127.0.0.1',
      rejectUnauthorized: false,
      ALPNProtocols: ['http/1.1'],
    });
    const { head, closed } = checkThenIdle(socket);
    expect(await head).toMatch(/^HTTP\/1\.1 200 /);
    expect(await head).toMatch(/\r\nKeep-Alive: timeout=1(\r\n|$)/i);
    await closed;
  });
});
