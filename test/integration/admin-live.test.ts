/**
 * The admin use cases against the real PostgreSQL and Redis (no gate, no worker): a restock's
 * live part happens once however it is retried or ordered, a reconcile repair never undoes a
 * restock, and a reload counts the outbox's unrecorded orders once, in the stock and in each
 * customer's purchases.
 */
import type { MikroORM } from '@mikro-orm/postgresql';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createAdmin, type Admin } from '../../src/domain/admin.js';
import type { AcceptedOrder } from '../../src/domain/order.js';
import type { LiveSales, SaleDatabase } from '../../src/domain/ports.js';
import { runMigrations } from '../../src/main-migrate.js';
import { createOrderBatchStore } from '../../src/persistence/order-batch.js';
import { createOrm } from '../../src/persistence/orm.js';
import { createRepository } from '../../src/persistence/repository.js';
import { createRedisSaleStore } from '../../src/redis/sale-store.js';
import { registerScripts } from '../../src/redis/scripts.js';
import { randomAcceptedOrder } from '../fixtures/orders.js';
import { testSale } from '../support/sales.js';
import { deleteKeys, isolatedConfig, keysMatching, redisFor } from '../support/stack.js';

const config = isolatedConfig();
const { redis, keys } = redisFor(config);
let orm: MikroORM;
let db: SaleDatabase;
let live: LiveSales;
let admin: Admin;
/** The worker's lag, as the admin use cases see it. */
let lag = 0;

beforeAll(async () => {
  await runMigrations(config);
  orm = await createOrm(config.databaseUrl, config.databaseSchema);
  registerScripts(redis);
  db = createRepository(orm.em);
  live = createRedisSaleStore(redis, keys);
  admin = createAdmin({ db, live, unrecordedOrders: async () => lag, now: Date.now });
});

afterAll(async () => {
  await deleteKeys(redis, await keysMatching(redis, `${config.redisKeyPrefix}:*`));
  redis.disconnect();
  await orm.em.getConnection().execute(`drop schema "${config.databaseSchema}" cascade`);
  await orm.close();
});

const unitsLeft = async (sku: string) => (await live.read(sku))?.unitsLeft;
const totalStock = async (sku: string) => (await db.getSale(sku))?.sale.totalStock;

describe('restock', () => {
  test('a restock whose live part failed is completed, once, by its retry', async () => {
    await admin.upsertSale(testSale('RS-1', { totalStock: 100 }));
    const failing = createAdmin({
      db,
      live: { ...live, restock: () => Promise.reject(new Error('Redis went away')) },
      unrecordedOrders: async () => 0,
      now: Date.now,
    });
    await expect(failing.restock('RS-1', 50, 'rs-1-a')).rejects.toThrow('Redis went away');
    expect([await totalStock('RS-1'), await unitsLeft('RS-1')]).toEqual([150, 100]);

    for (let i = 0; i < 2; i++) {
      const retry = await admin.restock('RS-1', 50, 'rs-1-a');
      expect(retry).toMatchObject({ replayed: true, liveReloadPending: false });
      expect(retry.stock).toMatchObject({ unitsLeft: 150, sale: { totalStock: 150 } });
    }
    expect([await totalStock('RS-1'), await unitsLeft('RS-1')]).toEqual([150, 150]);
  });

  test('restocks reaching the live sale out of order each count once', async () => {
    await admin.upsertSale(testSale('RS-2', { totalStock: 100 }));
    const first = await db.restock('RS-2', 100, 'rs-2-a');
    const second = await db.restock('RS-2', 200, 'rs-2-b');
    expect([first?.totalStockAfter, second?.totalStockAfter]).toEqual([200, 400]);
    // The second one's live part first: it carries the first one's units too.
    expect(await live.restock('RS-2', 400)).toBe(true);
    expect(await live.restock('RS-2', 200)).toBe(true);
    expect(await live.restock('RS-2', 400)).toBe(true);
    expect(await unitsLeft('RS-2')).toBe(400);
    expect(await admin.reconcile('RS-2', false)).toMatchObject({ drift: 0 });
  });

  test('a key used for another restock is refused and changes nothing', async () => {
    await admin.upsertSale(testSale('RS-3', { totalStock: 10 }));
    await admin.restock('RS-3', 5, 'rs-3-a');
    await expect(admin.restock('RS-3', 6, 'rs-3-a')).rejects.toMatchObject({
      reason: 'IDEMPOTENCY_KEY_REUSED',
    });
    await expect(admin.restock('RS-1', 5, 'rs-3-a')).rejects.toMatchObject({
      reason: 'IDEMPOTENCY_KEY_REUSED',
    });
    expect([await totalStock('RS-3'), await unitsLeft('RS-3')]).toEqual([15, 15]);
  });

  test('a reconcile repair computed before a restock reached the live sale is not applied', async () => {
    await admin.upsertSale(testSale('RS-4', { totalStock: 10 }));
    const seen = await live.snapshot('RS-4');
    const recorded = await db.restock('RS-4', 5, 'rs-4-a');
    await live.restock('RS-4', recorded?.totalStockAfter ?? 0);
    // A repair computed from `seen` and the database after the restock would add its 5 again.
    expect(await live.adjust('RS-4', 5, seen.totalStock ?? 0, 15)).toBe(false);
    expect(await unitsLeft('RS-4')).toBe(15);
    expect(await admin.reconcile('RS-4', true)).toMatchObject({ drift: 0, repaired: false });
  });
});

describe('reload', () => {
  const record = (orders: AcceptedOrder[]) =>
    createOrderBatchStore(orm.em).record(
      orders.map((order, i) => ({ order, partition: 0, offset: String(i) })),
    );
  const addToOutbox = (order: AcceptedOrder) =>
    redis.xadd(keys.outbox(order.sku), '*', 'order', JSON.stringify(order));
  const bought = (sku: string, customerId: string) => redis.get(keys.bought(sku, customerId));

  test('counts outbox orders the database has not recorded, once, in the stock and the limits', async () => {
    const sku = 'RL-1';
    await admin.upsertSale(testSale(sku, { totalStock: 20, perCustomerLimit: 5 }));
    const ann = randomAcceptedOrder(sku, 2, 'ann');
    const ben = randomAcceptedOrder(sku, 1, 'ben'); // recorded, its outbox entry not yet removed
    const cat = randomAcceptedOrder(sku, 2, 'cat'); // in the outbox only
    await record([ann, ben]);
    await addToOutbox(ben);
    await addToOutbox(cat);
    // Redis loses the sale, but not its outbox.
    await redis.del(
      keys.sale(sku),
      keys.stock(sku),
      keys.stats(sku),
      ...['ann', 'ben', 'cat'].map((c) => keys.bought(sku, c)),
    );

    // The worker is behind: the restock is recorded, the reload waits, a reconcile changes nothing.
    lag = 1;
    const pending = await admin.restock(sku, 1, 'rl-1-a');
    expect(pending).toMatchObject({ liveReloadPending: true, stock: undefined });
    await expect(admin.reconcile(sku, true)).rejects.toMatchObject({
      reason: 'DEPENDENCY_UNAVAILABLE',
    });
    expect(await live.read(sku)).toBeUndefined();

    lag = 0;
    expect(await admin.reconcile(sku, true)).toMatchObject({ liveUnits: -1, repaired: true });
    // Database: 20 - 3 recorded + 1 restocked = 18; cat's 2 units are held by the outbox.
    expect(await live.read(sku)).toMatchObject({ unitsLeft: 16, sale: { totalStock: 21 } });
    expect([await bought(sku, 'ann'), await bought(sku, 'ben'), await bought(sku, 'cat')]).toEqual([
      '2',
      '1',
      '2',
    ]);
    expect((await live.counters(sku)).acceptedUnits).toBe(5);
    expect(await admin.reconcile(sku, false)).toMatchObject({ inFlightUnits: 2, drift: 0 });
    // The restock's retry adds nothing now that the reload carried it.
    expect(await admin.restock(sku, 1, 'rl-1-a')).toMatchObject({
      replayed: true,
      liveReloadPending: false,
      stock: { unitsLeft: 16 },
    });
  });

  test('writes nothing when the outbox moved since the load was computed, or the sale is whole', async () => {
    const sku = 'RL-2';
    await admin.upsertSale(testSale(sku, { totalStock: 10 }));
    const sale = (await db.getSale(sku))?.sale;
    if (!sale) throw new Error('no sale');
    await redis.del(keys.sale(sku), keys.stock(sku));
    const load = {
      sale,
      unitsLeft: 10,
      acceptedUnits: 0,
      holdings: new Map([['dan', 1]]),
      outboxEntryIds: ['1-0'],
    };
    expect(await live.reload(load)).toBe('moved');
    expect([await live.read(sku), await bought(sku, 'dan')]).toEqual([undefined, null]);
    expect(await live.reload({ ...load, outboxEntryIds: [] })).toBe('loaded');
    expect(await bought(sku, 'dan')).toBe('1');
    expect(await live.reload({ ...load, unitsLeft: 3, outboxEntryIds: [] })).toBe('live');
    expect(await unitsLeft(sku)).toBe(10);
  });

  test('a sale with thousands of customers is reloaded in chunks, each count once', async () => {
    const sku = 'RL-3';
    await admin.upsertSale(testSale(sku, { totalStock: 10 }));
    const sale = (await db.getSale(sku))?.sale;
    if (!sale) throw new Error('no sale');
    await redis.del(keys.stock(sku));
    const holdings = new Map(Array.from({ length: 2500 }, (_, i) => [`c${i}`, i % 3]));
    const load = { sale, unitsLeft: 10, acceptedUnits: 0, holdings, outboxEntryIds: [] };
    expect(await live.reload(load)).toBe('loaded');
    const counts = await keysMatching(redis, `${config.redisKeyPrefix}:{${sku}}:bought:*`);
    expect(counts).toHaveLength(2500 - 834); // 0 units: no count
    expect(
      await redis.mget(['c0', 'c1', 'c1001', 'c2498'].map((c) => keys.bought(sku, c))),
    ).toEqual([null, '1', '2', '2']);
    // Whole now: a second load changes no count.
    const other = new Map([...holdings].map(([c]) => [c, 1]));
    expect(await live.reload({ ...load, holdings: other })).toBe('live');
    expect(await redis.get(keys.bought(sku, 'c0'))).toBeNull();
  });
});
