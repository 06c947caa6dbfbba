/**
 * Issue #20: the port's protocol sniffer routes a connection only once its first bytes tell
 * HTTP/2 from HTTP/1.1, however they are split into segments, and closes a connection that
 * has not told within the headers timeout. Before, a first segment of one `P` sent the
 * connection to HTTP/2, and an HTTP/1.1 request beginning `P` (POST, PUT, PATCH) failed.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startGate, type RunningGate } from '../../src/main-gate.js';
import { eventually, isolatedConfig } from '../support/stack.js';
import {
  clientStart,
  connectRaw,
  frameType,
  measureLegitimate,
  openDescriptors,
  preface,
  sleep,
  type RawConnection,
} from './support.js';

const config = isolatedConfig({
  headersTimeoutMs: 500,
  timeoutCheckIntervalMs: 100,
  connectionRate: 1_000_000,
  connectionBurst: 1_000_000,
  outboxRelayIntervalMs: 600_000,
});
let gate: RunningGate;
let port: number;

beforeAll(async () => {
  gate = await startGate(config);
  port = Number(new URL(gate.url).port);
});

afterAll(async () => {
  await gate.close();
});

/** Writes `bytes` one segment per byte, `gapMs` apart. */
async function dribble(c: RawConnection, bytes: Buffer, gapMs: number): Promise<void> {
  c.socket.setNoDelay(true);
  for (let i = 0; i < bytes.length && !c.socket.destroyed; i++) {
    c.socket.write(bytes.subarray(i, i + 1));
    await sleep(gapMs);
  }
}

/** Everything the gate sent on `c` until it closed, as text. */
function collect(c: RawConnection): Promise<string> {
  const chunks: Buffer[] = [];
  c.socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  return c.closed.then(() => Buffer.concat(chunks).toString('latin1'));
}

describe('protocol sniffer', () => {
  test('an HTTP/1.1 POST whose first segment is one `P` is served as HTTP/1.1', async () => {
    const c = await connectRaw(port);
    const answer = collect(c);
    const body = '{}';
    const request =
      'POST /grpc.health.v1.Health/Check HTTP/1.1\r\nHost: gate\r\nContent-Type: application/json\r\n' +
      `Connection: close\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    c.socket.write('P');
    await sleep(50);
    c.socket.write(request.slice(1));
    expect(await answer).toMatch(
      /^HTTP\/1\.1 200 OK\r\n[\s\S]*"status":"SERVING"|^HTTP\/1\.1 200 OK\r\n[\s\S]*"status":"NOT_SERVING"/,
    );
  });

  test('an HTTP/2 preface sent a byte at a time is served as HTTP/2', async () => {
    const c = await connectRaw(port);
    // 24 bytes, 10 ms apart: well within the headers timeout.
    await dribble(c, preface, 10);
    c.socket.write(clientStart.subarray(preface.length));
    await sleep(200);
    expect(c.frames(frameType.settings)).toBeGreaterThan(0);
    c.socket.destroy();
  });

  test('a connection that sends one `P` and nothing more is closed after the headers timeout', async () => {
    const fdsBefore = openDescriptors();
    const connections = await Promise.all(
      Array.from({ length: 200 }, async () => {
        const c = await connectRaw(port, '127.0.0.6');
        c.socket.write('P');
        return c;
      }),
    );
    expect((await measureLegitimate(gate.url, 50)).errors).toBe(0);
    const lifetimes = await Promise.all(connections.map((c) => c.closed));
    expect(Math.min(...lifetimes)).toBeGreaterThanOrEqual(config.headersTimeoutMs);
    // Neither server saw them: no HTTP/1.1 answer and no HTTP/2 SETTINGS.
    expect(connections.every((c) => c.received() === 0)).toBe(true);
    await eventually(async () => openDescriptors() <= fdsBefore, 10_000, 'descriptors back');
  });

  test('a preface that stops short is closed after the headers timeout', async () => {
    const c = await connectRaw(port, '127.0.0.6');
    c.socket.write(preface.subarray(0, 20));
    expect(await c.closed).toBeGreaterThanOrEqual(config.headersTimeoutMs);
    expect(c.received()).toBe(0);
  });
});
