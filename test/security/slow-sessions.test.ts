/**
 * Issue #20: HTTP/2 connections cannot be held open for nothing. Idle sessions, sessions that send
 * their HEADERS a byte at a time and streams that never send their request body are closed by the
 * gate's timeouts, however often the attacker comes back; connections past FLUXGATE_MAX_CONNECTIONS
 * are closed as they arrive. Meanwhile a legitimate client keeps its latency (no errors, and a p99
 * within 5x, or 250 ms, of its unattacked figure: expectServedThrough), and once the attack stops
 * the process's descriptors and heap return to where they were.
 */
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Health, HealthCheckResponse_ServingStatus } from '../../gen/grpc/health/v1/health_pb.js';
import { loadConfig } from '../../src/config.js';
import { buildServer } from '../../src/gate/build-server.js';
import { eventually, isolatedConfig } from '../support/stack.js';
import {
  clientStart,
  connectRaw,
  endOfRequest,
  errorCode,
  expectServedThrough,
  frameType,
  headers,
  healthCheckHeaders,
  heapMiB,
  measureLegitimate,
  openDescriptors,
  siege,
  trickle,
  type RawConnection,
  type Siege,
} from './support.js';
import { attackedGate } from './attacked-gate.js';

const config = isolatedConfig({
  headersTimeoutMs: 500,
  http2IdleTimeoutMs: 700,
  requestTimeoutMs: 1000,
  timeoutCheckIntervalMs: 100,
  // The per-address rate has a file of its own; here every attacker may reconnect at will.
  connectionRate: 1_000_000,
  connectionBurst: 1_000_000,
  outboxRelayIntervalMs: 600_000,
});
/**
 * How late a limit may act and still count: generous, for a busy two-core machine; what it
 * rules out is the "stay open indefinitely" (until the test itself ends them).
 */
const slackMs = 30_000;
const calls = 600;
const target = attackedGate(config);

/**
 * Runs `attack` while a legitimate client measures, around an unattacked measurement, and
 * checks the criteria; returns every attack connection for the caller's checks.
 */
async function underAttack(attack: () => Siege): Promise<readonly RawConnection[]> {
  const fdsBefore = openDescriptors();
  const heapBefore = heapMiB();
  const baseline = await measureLegitimate(target.gate.url, calls);
  const running = attack();
  await running.ready;
  const attacked = await measureLegitimate(target.gate.url, calls);
  await running.stop();
  console.info(
    `p99 unattacked ${baseline.p99Ms.toFixed(2)} ms, attacked ${attacked.p99Ms.toFixed(2)} ms;` +
      ` ${running.connections.length} attack connections`,
  );
  expectServedThrough(baseline, attacked);
  await eventually(async () => openDescriptors() <= fdsBefore, 10_000, 'descriptors back');
  const heapAfter = heapMiB();
  console.info(
    `fds ${fdsBefore} -> ${openDescriptors()}; heap ${heapBefore.toFixed(1)} -> ${heapAfter.toFixed(1)} MiB`,
  );
  expect(heapAfter).toBeLessThanOrEqual(heapBefore + 16);
  return running.connections;
}

/** Every connection's lifetime lies between `limitMs` and `limitMs` plus the slack. */
async function expectClosedAfter(connections: readonly RawConnection[], limitMs: number) {
  const lifetimes = await Promise.all(connections.map((c) => c.closed));
  expect(Math.min(...lifetimes)).toBeGreaterThanOrEqual(limitMs);
  expect(Math.max(...lifetimes)).toBeLessThanOrEqual(limitMs + slackMs);
}

describe('HTTP/2 sessions and streams time out', () => {
  test('2,000 idle sessions are each closed (GOAWAY) after the headers timeout', async () => {
    const connections = await underAttack(() =>
      siege(2000, async () => {
        const c = await connectRaw(target.port, '127.0.0.2');
        c.socket.write(clientStart);
        return c;
      }),
    );
    await expectClosedAfter(connections, config.headersTimeoutMs);
    expect(connections.every((c) => c.goaway() === errorCode.noError)).toBe(true);
  });

  test('sessions that served a call and went idle are closed after the idle timeout', async () => {
    const connections = await underAttack(() =>
      siege(200, async () => {
        const c = await connectRaw(target.port, '127.0.0.2');
        // One complete (if empty) call: the stream is answered and closed, the session idles.
        c.socket.write(Buffer.concat([clientStart, headers(1), endOfRequest(1)]));
        return c;
      }),
    );
    await expectClosedAfter(connections, config.http2IdleTimeoutMs);
    expect(connections.every((c) => c.goaway() === errorCode.noError)).toBe(true);
  });

  test('200 sessions sending HEADERS a byte at a time are closed after the headers timeout', async () => {
    const request = headers(1, healthCheckHeaders);
    const trickling = trickle(request);
    try {
      const connections = await underAttack(() =>
        siege(200, async () => {
          const c = await connectRaw(target.port, '127.0.0.2');
          c.socket.write(clientStart);
          trickling.add(c);
          return c;
        }),
      );
      await expectClosedAfter(connections, config.headersTimeoutMs);
      // None got its request out: the gate answered none.
      expect(connections.every((c) => c.frames(frameType.headers) === 0)).toBe(true);
    } finally {
      trickling.stop();
    }
  });

  test('5,000 streams that never send their body are reset after the request timeout, then their sessions closed', async () => {
    const perSession = config.http2MaxConcurrentStreams;
    const opening = Buffer.concat([
      clientStart,
      ...Array.from({ length: perSession }, (_, i) => headers(2 * i + 1)),
    ]);
    const connections = await underAttack(() =>
      siege(5000 / perSession, async () => {
        const c = await connectRaw(target.port, '127.0.0.2');
        c.socket.write(opening);
        return c;
      }),
    );
    await expectClosedAfter(
      connections,
      config.requestTimeoutMs + config.http2IdleTimeoutMs - config.timeoutCheckIntervalMs,
    );
    expect(connections.every((c) => c.frames(frameType.rstStream) === perSession)).toBe(true);
  });
});

describe('FLUXGATE_MAX_CONNECTIONS', () => {
  // A server of its own, with timeouts long enough that admitted connections stay for the count.
  const maxConnections = 100;
  let app: FastifyInstance;
  let url: string;

  beforeAll(async () => {
    app = await buildServer({
      config: loadConfig(
        {},
        {
          maxConnections,
          connectionRate: 1_000_000,
          connectionBurst: 1_000_000,
          // Only the maximum may close a connection here: opening 150 one after another can take
          // longer than the default headers timeout on a busy machine, and sessions it closed
          // would make room for more.
          headersTimeoutMs: 300_000,
          requestTimeoutMs: 600_000,
          http2IdleTimeoutMs: 600_000,
        },
      ),
      logger: pino({ level: 'silent' }),
      routes: (router) => {
        router.service(Health, {
          check: () => ({ status: HealthCheckResponse_ServingStatus.SERVING }),
        });
      },
    });
    url = await app.listen({ host: '127.0.0.1', port: 0 });
  });

  afterAll(async () => {
    await app.close();
  });

  test('connections past the maximum are closed as they arrive, before a byte is read', async () => {
    const fdsBefore = openDescriptors();
    const serverPort = Number(new URL(url).port);
    const connections: RawConnection[] = [];
    for (let i = 0; i < maxConnections + 50; i++) {
      const c = await connectRaw(serverPort, '127.0.0.2');
      c.socket.write(clientStart);
      // Admitted: the gate's SETTINGS come; refused: the connection closes.
      await Promise.race([c.closed, eventually(async () => c.received() > 0, 10_000, 'SETTINGS')]);
      connections.push(c);
    }
    const refused = connections.filter((c) => c.received() === 0);
    expect(refused).toHaveLength(50);
    await Promise.all(refused.map((c) => c.closed));
    // The table is full: a legitimate client waits for room, and is served once there is.
    for (const c of connections) c.socket.destroy();
    await eventually(async () => openDescriptors() <= fdsBefore, 10_000, 'descriptors back');
    expect((await measureLegitimate(url, 20)).errors).toBe(0);
  });
});
