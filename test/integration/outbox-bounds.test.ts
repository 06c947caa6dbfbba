/**
 * The outbox is bounded per sale: while the broker is unreachable orders wait in it, and past
 * its size or its oldest entry's age the sale refuses (DEPENDENCY_UNAVAILABLE, kafka) instead of
 * holding an unbounded backlog in Redis. Such a refusal reserves nothing and stores nothing.
 * Runs the real place-order script.
 */
import { afterAll, expect, test } from 'vitest';
import { fingerprintOf, hashIdempotencyKey } from '../../src/idempotency/fingerprint.js';
import type { AcceptedOrder } from '../../src/domain/order.js';
import { loadTestSale, testReservationStore, testSale } from '../support/sales.js';
import { isolatedConfig, redisFor, redisSnapshot } from '../support/stack.js';

const config = isolatedConfig();
const { redis, keys } = redisFor(config);
const store = testReservationStore(redis, keys, { outboxMaxEntries: 3, outboxMaxAgeMs: 60_000 });

afterAll(() => {
  redis.disconnect();
});

let n = 0;
/** Reserves one unit of `sku` under a fresh key. */
function reserve(sku: string) {
  const request = {
    sku,
    quantity: 1,
    customerId: `c${String(n)}`,
    idempotencyKey: `k${String(n)}`,
  };
  const order: AcceptedOrder = {
    orderId: `00000000-0000-7000-8000-${String(++n).padStart(12, '0')}`,
    sku,
    quantity: 1,
    customerId: request.customerId,
    idempotencyKeyHash: hashIdempotencyKey(request.customerId, request.idempotencyKey),
    acceptedAtMs: Date.now(),
    requestId: 'r',
  };
  return store.reserve(order, fingerprintOf(request));
}

test('past its entry bound the sale refuses, reserving and storing nothing; a completion makes room again', async () => {
  await loadTestSale(redis, keys, testSale('BOUND-1', { totalStock: 100 }));
  const reserved = [await reserve('BOUND-1'), await reserve('BOUND-1'), await reserve('BOUND-1')];
  expect(reserved.map((o) => o.kind)).toEqual(['reserved', 'reserved', 'reserved']);

  const before = await redisSnapshot(redis, config.redisKeyPrefix);
  const refused = await reserve('BOUND-1');
  expect(refused).toMatchObject({
    kind: 'refused',
    refusal: { reason: 'DEPENDENCY_UNAVAILABLE', facts: { dependency: 'kafka' } },
  });
  expect(await redisSnapshot(redis, config.redisKeyPrefix)).toEqual(before);

  // Kafka acknowledged one: there is room for one more.
  if (reserved[0]?.kind !== 'reserved') throw new Error('not reserved');
  await store.complete([reserved[0].reservation]);
  expect((await reserve('BOUND-1')).kind).toBe('reserved');
});

test('past its age bound (the oldest entry waited too long) the sale refuses too', async () => {
  await loadTestSale(redis, keys, testSale('BOUND-2', { totalStock: 100 }));
  // An entry stamped two minutes ago by the Redis clock, as if the broker had been gone that long.
  const [seconds] = await redis.time();
  await redis.xadd(
    keys.outbox('BOUND-2'),
    `${String((Number(seconds) - 120) * 1000)}-0`,
    'order',
    '{}',
  );
  const before = await redisSnapshot(redis, config.redisKeyPrefix);
  expect(await reserve('BOUND-2')).toMatchObject({
    kind: 'refused',
    refusal: { reason: 'DEPENDENCY_UNAVAILABLE' },
  });
  expect(await redisSnapshot(redis, config.redisKeyPrefix)).toEqual(before);
  await redis.del(keys.outbox('BOUND-2'));
  expect((await reserve('BOUND-2')).kind).toBe('reserved');
});
