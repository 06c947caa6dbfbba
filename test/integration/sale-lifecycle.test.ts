/**
 * Order status, inventory and administration through a real gate and a real worker: a full
 * sale, the admin guard, reconcile, and a sale whose Redis keys are lost mid-sale.
 */
import { Code, ConnectError, createClient, type Client } from '@connectrpc/connect';
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from '@connectrpc/connect-node';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { AdminService } from '../../gen/fluxgate/v1/admin_pb.js';
import { InventoryService } from '../../gen/fluxgate/v1/inventory_pb.js';
import { OrderStatus } from '../../gen/fluxgate/v1/order_pb.js';
import { OrderGateService } from '../../gen/fluxgate/v1/order_gate_pb.js';
import { SaleState } from '../../gen/fluxgate/v1/sale_pb.js';
import { ErrorInfoSchema } from '../../gen/google/rpc/error_details_pb.js';
import { startGate, type RunningGate } from '../../src/main-gate.js';
import { startWorker, type RunningWorker } from '../../src/main-worker.js';
import { createRedisOrderStore } from '../../src/redis/order-store.js';
import { eventually, isolatedConfig, redisFor, redisSnapshot } from './support.js';

const adminToken = 'test-admin-token-0123456789';
const config = isolatedConfig({ adminToken });
const { redis, keys } = redisFor(config);
let gate: RunningGate;
let worker: RunningWorker;
let admin: Client<typeof AdminService>;
let orders: Client<typeof OrderGateService>;
let inventory: Client<typeof InventoryService>;
const auth = { headers: { authorization: `Bearer ${adminToken}` } };

const sale = (sku: string, totalStock: number, extra: Record<string, unknown> = {}) => ({
  sale: {
    sku,
    name: `Sale ${sku}`,
    totalStock: BigInt(totalStock),
    perCustomerLimit: 5,
    startsAt: timestampFromMs(Date.now() - 1000),
    endsAt: timestampFromMs(Date.now() + 3_600_000),
    admissionRate: 10_000,
    admissionBurst: 10_000,
    ...extra,
  },
});
const reasonOf = (e: unknown) =>
  e instanceof ConnectError ? e.findDetails(ErrorInfoSchema)[0]?.reason : undefined;
const place = (sku: string, customerId: string, quantity = 1) =>
  orders.placeOrder({ sku, quantity, customerId, idempotencyKey: randomUUID() });

beforeAll(async () => {
  worker = await startWorker(config); // migrates the test schema first
  gate = await startGate(config);
  const transport = createGrpcTransport({ baseUrl: gate.url });
  admin = createClient(AdminService, transport);
  orders = createClient(OrderGateService, transport);
  inventory = createClient(InventoryService, transport);
});

afterAll(async () => {
  await gate.close();
  await worker.close();
  redis.disconnect();
});

test('a full sale: orders watched from PENDING to CONFIRMED, the stock stream reaching 0, statistics that add up', async () => {
  const created = await admin.upsertSale(sale('FLOW-1', 6), auth);
  expect(created.created).toBe(true);

  const stockUpdates: bigint[] = [];
  const states: SaleState[] = [];
  const stockStream = (async () => {
    for await (const { stock } of inventory.watchStock({ sku: 'FLOW-1' }, { timeoutMs: 30_000 })) {
      stockUpdates.push(stock!.unitsLeft);
      states.push(stock!.state);
    }
  })();
  // The watch's first message is the untouched stock; only then may orders race it.
  await eventually(async () => stockUpdates.length > 0, 10_000, 'the first stock update');

  // The worker can confirm an order before a watch of it starts: hold it back until the
  // watch has seen PENDING, so the watch must see the change.
  await worker.close();
  const first = await place('FLOW-1', 'ann', 2);
  const seen: OrderStatus[] = [];
  const watching = (async () => {
    for await (const { order } of orders.watchOrder(
      { orderId: first.orderId },
      { timeoutMs: 30_000 },
    ))
      seen.push(order!.status);
  })();
  await eventually(async () => seen.length > 0, 10_000, 'the first order update');
  worker = await startWorker(config);
  await watching;
  expect(seen).toEqual([OrderStatus.PENDING, OrderStatus.CONFIRMED]);

  await place('FLOW-1', 'bob', 3);
  await place('FLOW-1', 'cat', 1);
  const refused = await place('FLOW-1', 'dan', 1).catch((e: unknown) => e);
  expect(reasonOf(refused)).toBe('SOLD_OUT');
  await stockStream; // ends by itself once sold out
  expect(stockUpdates[0]).toBe(6n);
  expect(stockUpdates.at(-1)).toBe(0n);
  expect(states.at(-1)).toBe(SaleState.SOLD_OUT);
  expect([...stockUpdates].sort((a, b) => Number(b - a))).toEqual(stockUpdates); // never goes up

  const got = await orders.getOrder({ orderId: first.orderId });
  expect(got.order).toMatchObject({
    sku: 'FLOW-1',
    quantity: 2,
    customerId: 'ann',
    status: OrderStatus.CONFIRMED,
  });
  expect(got.order?.finalizedAt).toBeDefined();

  await eventually(
    async () => (await admin.getSaleStats({ sku: 'FLOW-1' }, auth)).stats?.confirmed === 3n,
    30_000,
    'three confirmed',
  );
  const { stats } = await admin.getSaleStats({ sku: 'FLOW-1' }, auth);
  expect(stats).toMatchObject({
    accepted: 3n,
    confirmed: 3n,
    rejected: 0n,
    pending: 0n,
    soldOutRefusals: 1n,
    rateLimited: 0n,
    deadLettered: 0n,
  });

  const { sales } = await admin.listSales({}, auth);
  expect(sales.map((s) => s.sku)).toContain('FLOW-1');
  const stock = await inventory.getStock({ sku: 'FLOW-1' });
  expect(stock.stock).toMatchObject({ unitsLeft: 0n, totalStock: 6n, state: SaleState.SOLD_OUT });

  const restocked = await admin.restock({ sku: 'FLOW-1', units: 4n }, auth);
  expect(restocked.stock).toMatchObject({ unitsLeft: 4n, totalStock: 10n, state: SaleState.OPEN });
  await place('FLOW-1', 'dan', 1); // the sold-out flag was dropped by the restock
});

test('GetOrder: unknown id is not_found, a malformed id is invalid_argument', async () => {
  const missing = await orders
    .getOrder({ orderId: '01920f4e-7a10-7cc3-9c1b-6f2d3e4a5b6c' })
    .catch((e: unknown) => e);
  expect((missing as ConnectError).code).toBe(Code.NotFound);
  const malformed = await orders.getOrder({ orderId: 'not-an-id' }).catch((e: unknown) => e);
  expect((malformed as ConnectError).code).toBe(Code.InvalidArgument);
});

describe('admin guard', () => {
  const calls: [string, (options: { headers?: Record<string, string> }) => Promise<unknown>][] = [
    ['UpsertSale', (o) => admin.upsertSale(sale('GUARD-1', 10), o)],
    ['Restock', (o) => admin.restock({ sku: 'GUARD-0', units: 5n }, o)],
    ['PauseSale', (o) => admin.pauseSale({ sku: 'GUARD-0' }, o)],
    ['ResumeSale', (o) => admin.resumeSale({ sku: 'GUARD-0' }, o)],
    ['ListSales', (o) => admin.listSales({}, o)],
    ['GetSaleStats', (o) => admin.getSaleStats({ sku: 'GUARD-0' }, o)],
    ['Reconcile', (o) => admin.reconcile({ sku: 'GUARD-0', repair: true }, o)],
  ];

  beforeAll(async () => {
    await admin.upsertSale(sale('GUARD-0', 10), auth);
  });

  test.each(calls)(
    '%s without a token, or with a wrong one, is unauthenticated and changes nothing',
    async (_, call) => {
      const before = await redisSnapshot(redis, config.redisKeyPrefix);
      const beforeSales = (await admin.listSales({}, auth)).sales;
      for (const headers of [
        undefined,
        { authorization: 'Bearer wrong-token-0123456789' },
        { authorization: adminToken },
      ]) {
        const error = await call({ headers }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(ConnectError);
        expect((error as ConnectError).code).toBe(Code.Unauthenticated);
      }
      expect((await admin.listSales({}, auth)).sales).toEqual(beforeSales);
      const after = await redisSnapshot(redis, config.redisKeyPrefix);
      for (const [key, value] of before)
        if (key.includes('{GUARD-')) expect(after.get(key)).toBe(value);
      expect([...after.keys()].filter((k) => k.includes('{GUARD-1}'))).toEqual([]);
    },
  );
});

test('reconcile reports the exact drift of a corrupted counter and repairs it', async () => {
  await admin.upsertSale(sale('RECON-1', 20), auth);
  for (const c of ['a', 'b', 'c']) await place('RECON-1', c, 2);
  await eventually(
    async () => (await admin.getSaleStats({ sku: 'RECON-1' }, auth)).stats?.confirmed === 3n,
    30_000,
    'orders recorded',
  );

  expect(await admin.reconcile({ sku: 'RECON-1', repair: false }, auth)).toMatchObject({
    liveUnits: 14n,
    databaseUnits: 14n,
    inFlightUnits: 0n,
    drift: 0n,
    repaired: false,
  });
  await redis.incrby(keys.stock('RECON-1'), 7); // corruption: 7 units that do not exist
  expect(await admin.reconcile({ sku: 'RECON-1', repair: false }, auth)).toMatchObject({
    liveUnits: 21n,
    drift: 7n,
    repaired: false,
  });
  expect(await redis.get(keys.stock('RECON-1'))).toBe('21'); // a report changes nothing
  expect(await admin.reconcile({ sku: 'RECON-1', repair: true }, auth)).toMatchObject({
    drift: 7n,
    repaired: true,
  });
  expect(await redis.get(keys.stock('RECON-1'))).toBe('14');
  expect(await admin.reconcile({ sku: 'RECON-1', repair: false }, auth)).toMatchObject({
    drift: 0n,
  });
});

test('Redis loses the sale mid-sale: no order is accepted until reload; after reload, no overselling', async () => {
  await admin.upsertSale(sale('LOST-1', 10), auth);
  for (const c of ['a', 'b', 'c']) await place('LOST-1', c, 2);

  // The loss: every key of the sale is gone (the outbox was drained: these orders are in Kafka).
  const lost = await redis.keys(`${config.redisKeyPrefix}:{LOST-1}:*`);
  await redis.del(...lost);

  const whileLost = await place('LOST-1', 'd', 1).catch((e: unknown) => e);
  expect((whileLost as ConnectError).code).toBe(Code.NotFound); // no sale data: fails closed
  const stockWhileLost = await inventory.getStock({ sku: 'LOST-1' }).catch((e: unknown) => e);
  expect((stockWhileLost as ConnectError).code).toBe(Code.NotFound);

  await eventually(
    async () =>
      (await admin.reconcile({ sku: 'LOST-1', repair: true }, auth).catch(() => undefined))
        ?.repaired === true,
    30_000,
    'the reload (waits for in-flight orders to be recorded)',
  );
  const reloaded = await inventory.getStock({ sku: 'LOST-1' });
  expect(reloaded.stock?.unitsLeft).toBe(4n);

  // Sell everything that is left, and try for more.
  const results = await Promise.allSettled(
    ['e', 'f', 'g', 'h', 'i', 'j'].map((c) => place('LOST-1', c, 1)),
  );
  expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(4);
  await eventually(
    async () => (await admin.getSaleStats({ sku: 'LOST-1' }, auth)).stats?.confirmed === 7n,
    30_000,
    'all recorded',
  );
  expect(await admin.reconcile({ sku: 'LOST-1', repair: false }, auth)).toMatchObject({
    liveUnits: 0n,
    databaseUnits: 0n,
    drift: 0n,
  });
  expect((await admin.getSaleStats({ sku: 'LOST-1' }, auth)).stats?.rejected).toBe(0n);
});

test('pause refuses orders with SALE_PAUSED until resume; the stock shows PAUSED meanwhile', async () => {
  await admin.upsertSale(sale('PAUSE-1', 10), auth);
  expect((await admin.pauseSale({ sku: 'PAUSE-1' }, auth)).sale?.paused).toBe(true);
  expect(reasonOf(await place('PAUSE-1', 'a').catch((e: unknown) => e))).toBe('SALE_PAUSED');
  expect((await inventory.getStock({ sku: 'PAUSE-1' })).stock?.state).toBe(SaleState.PAUSED);
  expect((await admin.resumeSale({ sku: 'PAUSE-1' }, auth)).sale?.paused).toBe(false);
  expect((await place('PAUSE-1', 'a')).status).toBe(OrderStatus.PENDING);
});

test('bad admin input is invalid_argument, naming the field, and changes nothing', async () => {
  await admin.upsertSale(sale('ADMIN-BAD-1', 10), auth);
  const cases: [string, () => Promise<unknown>, string][] = [
    [
      'ends before it starts',
      () =>
        admin.upsertSale(
          sale('ADMIN-BAD-2', 10, { endsAt: timestampFromMs(Date.now() - 5000) }),
          auth,
        ),
      'sale.ends_at',
    ],
    ['no total stock', () => admin.upsertSale(sale('ADMIN-BAD-2', 0), auth), 'sale.total_stock'],
    [
      'changing total stock of an existing sale',
      () => admin.upsertSale(sale('ADMIN-BAD-1', 99), auth),
      'sale.total_stock',
    ],
    ['bad sku', () => admin.upsertSale(sale('bad sku', 10), auth), 'sale.sku'],
    [
      'restock of zero units',
      () => admin.restock({ sku: 'ADMIN-BAD-1', units: 0n }, auth),
      'units',
    ],
  ];
  for (const [what, call, field] of cases) {
    const error = await call().catch((e: unknown) => e);
    expect((error as ConnectError).code, what).toBe(Code.InvalidArgument);
    expect((error as ConnectError).findDetails(ErrorInfoSchema)[0]?.metadata.field, what).toBe(
      field,
    );
  }
  expect((await inventory.getStock({ sku: 'ADMIN-BAD-1' })).stock).toMatchObject({
    unitsLeft: 10n,
    totalStock: 10n,
  });
  expect((await admin.listSales({}, auth)).sales.map((s) => s.sku)).not.toContain('ADMIN-BAD-2');
  const unknown = await admin
    .restock({ sku: 'NO-SUCH-SALE', units: 1n }, auth)
    .catch((e: unknown) => e);
  expect((unknown as ConnectError).code).toBe(Code.NotFound);
});

describe('WatchOrder', () => {
  test.each([
    ['Connect', (url: string) => createConnectTransport({ baseUrl: url, httpVersion: '1.1' })],
    ['gRPC', (url: string) => createGrpcTransport({ baseUrl: url })],
    ['gRPC-Web', (url: string) => createGrpcWebTransport({ baseUrl: url, httpVersion: '1.1' })],
  ])('over %s: streams to the final status and ends', async (_, transport) => {
    await admin.upsertSale(sale('WATCH-1', 100), auth).catch(() => undefined);
    const client = createClient(OrderGateService, transport(gate.url));
    const placed = await client.placeOrder({
      sku: 'WATCH-1',
      quantity: 1,
      customerId: 'w',
      idempotencyKey: randomUUID(),
    });
    const seen: OrderStatus[] = [];
    for await (const { order } of client.watchOrder(
      { orderId: placed.orderId },
      { timeoutMs: 30_000 },
    ))
      seen.push(order!.status);
    expect(seen.at(-1)).toBe(OrderStatus.CONFIRMED);
    expect(seen.filter((s) => s === OrderStatus.CONFIRMED)).toHaveLength(1);
  });

  test('a watch of an order that stays PENDING sends PENDING, then ends at its deadline', async () => {
    // An order the gate recorded but that never reaches the worker (no event was published).
    const order = {
      orderId: '01920f4e-7a10-7cc3-9c1b-000000000001',
      sku: 'WATCH-1',
      quantity: 1,
      customerId: 'stuck',
      idempotencyKeyHash: 'e'.repeat(64),
      acceptedAtMs: Date.now(),
      requestId: 'r',
    };
    await createRedisOrderStore(redis, keys, 60_000).remember(order);
    const seen: OrderStatus[] = [];
    const started = Date.now();
    const error = await (async () => {
      for await (const { order: o } of orders.watchOrder(
        { orderId: order.orderId },
        { timeoutMs: 700 },
      ))
        seen.push(o!.status);
    })().catch((e: unknown) => e);
    expect(seen).toEqual([OrderStatus.PENDING]);
    expect((error as ConnectError).code).toBe(Code.DeadlineExceeded);
    expect(Date.now() - started).toBeLessThan(5000);
  });
});
