/**
 * Redis and PostgreSQL kept in agreement: reconcile reports and repairs drift, and a sale whose
 * Redis keys are lost mid-sale fails closed (buyers told to retry) until the gate has reloaded
 * it by itself, then sells on without overselling.
 */
import { Code, ConnectError } from '@connectrpc/connect';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { testSale, upsertRequest } from '../support/sales.js';
import { RetryInfoSchema } from '../../gen/google/rpc/error_details_pb.js';
import { deleteKeys, eventually, keysMatching } from '../support/stack.js';
import { reasonOf } from '../support/wire.js';
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

test('Redis loses the sale mid-sale: buyers are told to retry, the gate reloads it by itself with every limit, and nothing is oversold', async () => {
  await live.admin.upsertSale(
    upsertRequest(testSale('LOST-1', { totalStock: 10, perCustomerLimit: 2 })),
    adminAuth,
  );
  for (const c of ['a', 'b', 'c']) await live.place('LOST-1', c, 2);

  // The loss: every key of the sale is gone (the outbox was drained: these orders are in Kafka).
  const lost = await keysMatching(live.redis, `${live.config.redisKeyPrefix}:{LOST-1}:*`);
  await deleteKeys(live.redis, lost);

  // Never "not found" for a sale that exists: unavailable, retry shortly, nothing reserved.
  const whileLost = await live.place('LOST-1', 'd', 1).catch((e: unknown) => e);
  expect((whileLost as ConnectError).code).toBe(Code.Unavailable);
  expect(reasonOf(whileLost)).toBe('SALE_STATE_RELOADING');
  expect((whileLost as ConnectError).findDetails(RetryInfoSchema)).toHaveLength(1);
  const stockWhileLost = await live.inventory.getStock({ sku: 'LOST-1' }).catch((e: unknown) => e);
  expect((stockWhileLost as ConnectError).code).toBe(Code.Unavailable);
  // A sale that never existed is still not found.
  const unknown = await live.place('NEVER-1', 'd', 1).catch((e: unknown) => e);
  expect((unknown as ConnectError).code).toBe(Code.NotFound);

  // No operator: the gate reloads the sale once the worker has recorded a, b and c.
  await eventually(
    async () => (await live.place('LOST-1', 'd', 1).catch(() => undefined)) !== undefined,
    30_000,
    'the gate to reload the lost sale by itself',
  );
  const reloaded = await live.inventory.getStock({ sku: 'LOST-1' });
  expect(reloaded.stock?.unitsLeft).toBe(3n);
  // The customers' holdings came back with it: a holds 2 of 2.
  expect(reasonOf(await live.place('LOST-1', 'a', 1).catch((e: unknown) => e))).toBe(
    'PURCHASE_LIMIT_REACHED',
  );

  // Sell everything that is left, and try for more.
  const results = await Promise.allSettled(
    ['e', 'f', 'g', 'h', 'i', 'j'].map((c) => live.place('LOST-1', c, 1)),
  );
  expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
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
