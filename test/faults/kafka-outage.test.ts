/**
 * Kafka broker stopped under the gate: the sale goes on. Orders are accepted from the outbox
 * within their deadline; once the broker is back the relay publishes each of them once. The
 * gate's readiness says the broker is gone while it is, and comes back with it.
 */
import { createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { OrderGateService } from '../../gen/fluxgate/v1/order_gate_pb.js';
import { decodeOrderAccepted } from '../../src/kafka/codec.js';
import { createTopics } from '../../src/kafka/topics.js';
import { startGate, type RunningGate } from '../../src/main-gate.js';
import { startServer, stopServer } from '../support/processes.js';
import { loadTestSale, testSale } from '../support/sales.js';
import { eventually, isolatedConfig, readTopic, redisFor } from '../support/stack.js';

const config = isolatedConfig({
  outboxGraceMs: 1000,
  outboxRelayIntervalMs: 200,
  publishTimeoutMs: 2000,
});
const { redis, keys } = redisFor(config);
let gate: RunningGate;

beforeAll(async () => {
  gate = await startGate(config);
  await loadTestSale(redis, keys, testSale('OUTAGE-1', { totalStock: 1000 }));
});

afterAll(async () => {
  await startServer('kafka'); // whatever happened, leave the stack up for the next file
  await gate.close();
  redis.disconnect();
});

test('broker down: orders are still accepted, answered within the deadline and held in the outbox; broker back: every one is published once', async () => {
  const client = createClient(
    OrderGateService,
    createConnectTransport({ baseUrl: gate.url, httpVersion: '1.1' }),
  );
  const order = (n: number, key = `outage-${n}`) =>
    client.placeOrder(
      { sku: 'OUTAGE-1', quantity: 1, customerId: `c${n}`, idempotencyKey: key },
      { timeoutMs: 5000 },
    );

  /** Whether /readyz says the broker answers (the gate's probe runs every 2 s). */
  const kafkaReady = async (want: boolean) => {
    const res = await fetch(`${gate.opsUrl}/readyz`);
    const body = (await res.json()) as { checks: Record<string, string> };
    return res.status === (want ? 200 : 503) && (body.checks.kafka === 'ok') === want;
  };
  await eventually(() => kafkaReady(true), 10_000, 'the gate ready');

  for (let n = 0; n < 5; n++) await order(n);
  expect(await redis.get(keys.stock('OUTAGE-1'))).toBe('995');

  await stopServer('kafka');
  const acceptedDuringOutage: string[] = [];
  const slowest: number[] = [];
  for (let n = 5; n < 35; n++) {
    const started = performance.now();
    acceptedDuringOutage.push((await order(n)).orderId);
    slowest.push(performance.now() - started);
  }
  // Every call was answered before its deadline; once the breaker has seen the broker gone,
  // orders go straight to the outbox (the first ones waited for the failed publish).
  expect(Math.max(...slowest)).toBeLessThan(5000);
  expect(slowest.filter((ms) => ms < 1000).length).toBeGreaterThanOrEqual(25);
  // A repeat of a key accepted during the outage gets the same order at once.
  expect((await order(5)).orderId).toBe(acceptedDuringOutage[0]);
  expect(Number(await redis.get(keys.stock('OUTAGE-1')))).toBe(995 - 30);
  expect(await redis.xlen(keys.outbox('OUTAGE-1'))).toBe(30);
  await eventually(() => kafkaReady(false), 10_000, 'the gate to report the broker gone');

  await startServer('kafka');
  await eventually(() => kafkaReady(true), 60_000, 'the gate ready again');
  await eventually(
    async () => (await redis.xlen(keys.outbox('OUTAGE-1'))) === 0,
    60_000,
    'the outbox to drain',
  );
  const fresh = await order(200);
  expect(Number(await redis.get(keys.stock('OUTAGE-1')))).toBe(995 - 30 - 1);

  const expected = [...acceptedDuringOutage, fresh.orderId];
  const topic = createTopics(config.topicPrefix).orders;
  const records = await readTopic(config, topic, (rs) => {
    const ids = new Set(rs.map((r) => decodeOrderAccepted(r.value!).orderId));
    return expected.every((id) => ids.has(id));
  });
  const ids = records.map((r) => decodeOrderAccepted(r.value!).orderId);
  expect(new Set(ids).size).toBe(ids.length); // no order published twice in this run
  expect(ids.length).toBe(5 + expected.length);
});
