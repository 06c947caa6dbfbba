/**
 * Selling out: however many buyers arrive through however many gates, a sale sells at most its
 * stock, every refusal is true, and every acceptance is exactly one event on the order topic.
 */
import type { ConnectError } from '@connectrpc/connect';
import { randomUUID } from 'node:crypto';
import { expect, test } from 'vitest';
import { ErrorInfoSchema } from '../../gen/google/rpc/error_details_pb.js';
import { decodeOrderAccepted } from '../../src/kafka/codec.js';
import { createTopics } from '../../src/kafka/topics.js';
import { loadTestSale, testSale } from '../support/sales.js';
import { gatesForFile } from '../support/gates.js';
import { readTopic } from '../support/stack.js';
import { reasonOf } from '../support/wire.js';

const { config, redis, keys, client: connectClient } = gatesForFile(2);
const topics = createTopics(config.topicPrefix);

test('sell-out race: 2,000 concurrent orders through two gates never sell more than 100 units', async () => {
  await loadTestSale(redis, keys, testSale('RACE-1', { totalStock: 100 }));
  const clients = [0, 1].map(connectClient);
  const attempts = Array.from({ length: 2000 }, (_, i) => ({
    client: clients[i % clients.length]!,
    request: {
      sku: 'RACE-1',
      quantity: (i % 3) + 1,
      customerId: `buyer-${i}`,
      idempotencyKey: randomUUID(),
    },
  }));
  const results = await Promise.allSettled(attempts.map((a) => a.client.placeOrder(a.request)));

  const accepted = results.flatMap((r, i) =>
    r.status === 'fulfilled' ? [{ ...r.value, quantity: attempts[i]!.request.quantity }] : [],
  );
  const refusals = results.flatMap((r, i) =>
    r.status === 'rejected' ? [{ error: r.reason as ConnectError, attempt: attempts[i]! }] : [],
  );
  const soldUnits = accepted.reduce((sum, a) => sum + a.quantity, 0);

  expect(soldUnits).toBeLessThanOrEqual(100);
  expect(soldUnits).toBeGreaterThan(97); // it really sold out: fewer than 3 units can be left
  // Every refusal was true when given: SOLD_OUT, or fewer units left than that order asked for
  // (which of the two the last few units meet depends on the race).
  const reasons = new Set(refusals.map((r) => reasonOf(r.error)));
  expect(reasons).toContain('SOLD_OUT');
  expect([...reasons].filter((r) => r !== 'SOLD_OUT' && r !== 'INSUFFICIENT_STOCK')).toEqual([]);
  for (const { error, attempt } of refusals.filter(
    (r) => reasonOf(r.error) === 'INSUFFICIENT_STOCK',
  )) {
    const unitsLeft = Number(error.findDetails(ErrorInfoSchema)[0]?.metadata.units_left);
    expect(unitsLeft).toBeGreaterThan(0);
    expect(unitsLeft).toBeLessThan(attempt.request.quantity);
  }
  expect(Number(await redis.get(keys.stock('RACE-1')))).toBe(100 - soldUnits);

  // Every acceptance has exactly one event on the order topic, and no other event exists.
  const records = await readTopic(config, topics.orders, (rs) => rs.length >= accepted.length);
  await new Promise((resolve) => setTimeout(resolve, 500));
  const events = records
    .map((r) => decodeOrderAccepted(r.value!))
    .filter((e) => e.sku === 'RACE-1');
  expect(events.map((e) => e.orderId).sort()).toEqual(accepted.map((a) => a.orderId).sort());
  expect(records.every((r) => r.key?.toString() === 'RACE-1')).toBe(true);
  expect(await redis.xlen(keys.outbox('RACE-1'))).toBe(0);
});
