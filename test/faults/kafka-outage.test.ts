/**
 * Kafka broker stopped under the gate: orders that certainly were not queued are refused
 * `unavailable` within their deadline with their stock put back; orders whose outcome was
 * unknown stay reserved in the outbox; once the broker is back, orders flow and the outbox drains.
 */
import { Code, ConnectError, createClient } from '@connectrpc/connect';
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

test('broker down: unavailable within the deadline, nothing lost or leaked; broker back: orders flow, outbox drains', async () => {
  const client = createClient(
    OrderGateService,
    createConnectTransport({ baseUrl: gate.url, httpVersion: '1.1' }),
  );
  const order = (n: number, key = `outage-${n}`) =>
    client.placeOrder(
      { sku: 'OUTAGE-1', quantity: 1, customerId: `c${n}`, idempotencyKey: key },
      { timeoutMs: 5000 },
    );

  for (let n = 0; n < 5; n++) await order(n);
  expect(await redis.get(keys.stock('OUTAGE-1'))).toBe('995');

  await stopServer('kafka');
  const pendingDuringOutage: string[] = [];
  const refusedKeys: string[] = [];
  for (let n = 5; n < 35; n++) {
    const started = Date.now();
    try {
      pendingDuringOutage.push((await order(n)).orderId);
    } catch (error) {
      expect(error).toBeInstanceOf(ConnectError);
      expect((error as ConnectError).code).toBe(Code.Unavailable);
      refusedKeys.push(`outage-${n}`);
    }
    expect(Date.now() - started).toBeLessThan(5000);
  }
  // Once the gate has seen the broker gone, every order is refused as certainly not placed.
  expect(refusedKeys.length).toBeGreaterThanOrEqual(25);
  // Refused orders gave their units back; accepted-but-unknown ones stay reserved in the outbox.
  expect(Number(await redis.get(keys.stock('OUTAGE-1')))).toBe(995 - pendingDuringOutage.length);
  expect(await redis.xlen(keys.outbox('OUTAGE-1'))).toBe(pendingDuringOutage.length);

  await startServer('kafka');
  await eventually(
    async () => (await redis.xlen(keys.outbox('OUTAGE-1'))) === 0,
    60_000,
    'the outbox to drain',
  );

  // A refused order retried with its own key is now accepted: its key was released too.
  const retried = await Promise.all(refusedKeys.slice(0, 5).map((key, i) => order(100 + i, key)));
  const fresh = await order(200);
  expect(Number(await redis.get(keys.stock('OUTAGE-1')))).toBe(
    995 - pendingDuringOutage.length - retried.length - 1,
  );

  const expected = [...pendingDuringOutage, ...retried.map((r) => r.orderId), fresh.orderId];
  const topic = createTopics(config.topicPrefix).orders;
  const records = await readTopic(config, topic, (rs) => {
    const ids = new Set(rs.map((r) => decodeOrderAccepted(r.value!).orderId));
    return expected.every((id) => ids.has(id));
  });
  const ids = records.map((r) => decodeOrderAccepted(r.value!).orderId);
  expect(new Set(ids).size).toBe(ids.length); // no order published twice in this run
  expect(ids.length).toBe(5 + expected.length);
});
