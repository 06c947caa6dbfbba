/**
 * Redis and PostgreSQL kept in agreement: reconcile reports and repairs drift, and a sale whose
 * Redis keys are lost mid-sale fails closed until it is reloaded, then sells on without
 * overselling.
 */
import { Code, ConnectError } from '@connectrpc/connect';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { testSale, upsertRequest } from '../support/sales.js';
import { eventually } from '../support/stack.js';
import { adminAuth, startSystem, type System } from '../support/system.js';

let live: System;
beforeAll(async () => {
  live = await startSystem();
});
afterAll(async () => {
  await live.close();
});

test('reconcile reports the exact drift of a corrupted counter and repairs it', async () => {
  await live.admin.upsertSale(upsertRequest(testSale('RECON-1', { totalStock: 20 })), adminAuth);
  for (const c of ['a', 'b', 'c']) await live.place('RECON-1', c, 2);
  await eventually(
    async () =>
      (await live.admin.getSaleStats({ sku: 'RECON-1' }, adminAuth)).stats?.confirmed === 3n,
    30_000,
    'orders recorded',
  );

  expect(await live.admin.reconcile({ sku: 'RECON-1', repair: false }, adminAuth)).toMatchObject({
    liveUnits: 14n,
    databaseUnits: 14n,
    inFlightUnits: 0n,
    drift: 0n,
    repaired: false,
  });
  await live.redis.incrby(live.keys.stock('RECON-1'), 7); // corruption: 7 units that do not exist
  expect(await live.admin.reconcile({ sku: 'RECON-1', repair: false }, adminAuth)).toMatchObject({
    liveUnits: 21n,
    drift: 7n,
    repaired: false,
  });
  expect(await live.redis.get(live.keys.stock('RECON-1'))).toBe('21'); // a report changes nothing
  expect(await live.admin.reconcile({ sku: 'RECON-1', repair: true }, adminAuth)).toMatchObject({
    drift: 7n,
    repaired: true,
  });
  expect(await live.redis.get(live.keys.stock('RECON-1'))).toBe('14');
  expect(await live.admin.reconcile({ sku: 'RECON-1', repair: false }, adminAuth)).toMatchObject({
    drift: 0n,
  });
});

test('Redis loses the sale mid-sale: no order is accepted until reload; after reload, no overselling', async () => {
  await live.admin.upsertSale(upsertRequest(testSale('LOST-1', { totalStock: 10 })), adminAuth);
  for (const c of ['a', 'b', 'c']) await live.place('LOST-1', c, 2);

  // The loss: every key of the sale is gone (the outbox was drained: these orders are in Kafka).
  const lost = await live.redis.keys(`${live.config.redisKeyPrefix}:{LOST-1}:*`);
  await live.redis.del(...lost);

  const whileLost = await live.place('LOST-1', 'd', 1).catch((e: unknown) => e);
  expect((whileLost as ConnectError).code).toBe(Code.NotFound); // no sale data: fails closed
  const stockWhileLost = await live.inventory.getStock({ sku: 'LOST-1' }).catch((e: unknown) => e);
  expect((stockWhileLost as ConnectError).code).toBe(Code.NotFound);

  await eventually(
    async () =>
      (
        await live.admin
          .reconcile({ sku: 'LOST-1', repair: true }, adminAuth)
          .catch(() => undefined)
      )?.repaired === true,
    30_000,
    'the reload (waits for in-flight orders to be recorded)',
  );
  const reloaded = await live.inventory.getStock({ sku: 'LOST-1' });
  expect(reloaded.stock?.unitsLeft).toBe(4n);

  // Sell everything that is left, and try for more.
  const results = await Promise.allSettled(
    ['e', 'f', 'g', 'h', 'i', 'j'].map((c) => live.place('LOST-1', c, 1)),
  );
  expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(4);
  await eventually(
    async () =>
      (await live.admin.getSaleStats({ sku: 'LOST-1' }, adminAuth)).stats?.confirmed === 7n,
    30_000,
    'all recorded',
  );
  expect(await live.admin.reconcile({ sku: 'LOST-1', repair: false }, adminAuth)).toMatchObject({
    liveUnits: 0n,
    databaseUnits: 0n,
    drift: 0n,
  });
  expect((await live.admin.getSaleStats({ sku: 'LOST-1' }, adminAuth)).stats?.rejected).toBe(0n);
});
