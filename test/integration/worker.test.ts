/**
 * The worker against real Kafka and PostgreSQL: duplicates change nothing but are announced
 * again, the stock guard rejects what the database cannot cover, poison goes to the
 * dead-letter topic with its request id.
 */
import { Kafka, logLevel, type Producer } from 'kafkajs';
import type { MikroORM } from '@mikro-orm/postgresql';
import { randomBytes } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { randomAcceptedOrder } from '../fixtures/orders.js';
import type { AcceptedOrder } from '../../src/domain/order.js';
import { decodeDeadLetter, encodeOrderAccepted, requestIdHeader } from '../../src/kafka/codec.js';
import { hashIdempotencyKey } from '../../src/idempotency/fingerprint.js';
import { createTopics } from '../../src/kafka/topics.js';
import { startWorker, type RunningWorker } from '../../src/main-worker.js';
import { ProductSchema } from '../../src/persistence/entities.js';
import { recordedOrdersSql } from '../../src/persistence/order-batch.js';
import { createOrm } from '../../src/persistence/orm.js';
import { createRedisOrderStore } from '../../src/redis/order-store.js';
import { metricsPage, sumSamples } from '../support/metrics.js';
import { eventually, isolatedConfig, redisFor } from '../support/stack.js';

const config = isolatedConfig();
const topics = createTopics(config.topicPrefix);
const { redis, keys } = redisFor(config);
const kafka = new Kafka({ brokers: config.kafkaBrokers, logLevel: logLevel.NOTHING });
let producer: Producer;
let worker: RunningWorker;
let orm: MikroORM;

function order(sku: string, quantity: number): AcceptedOrder {
  return randomAcceptedOrder(sku, quantity, `c-${randomBytes(3).toString('hex')}`);
}

async function send(
  values: { key: string; value: Buffer; headers?: Record<string, string> }[],
): Promise<void> {
  for (let i = 0; i < values.length; i += 1000) {
    await producer.send({ topic: topics.orders, acks: -1, messages: values.slice(i, i + 1000) });
  }
}

const toRecord = (o: AcceptedOrder) => ({ key: o.sku, value: Buffer.from(encodeOrderAccepted(o)) });

async function addProduct(sku: string, stock: number): Promise<void> {
  await orm.em.fork().insert(ProductSchema, {
    sku,
    name: sku,
    stock,
    totalStock: stock,
    perCustomerLimit: 1000,
    startsAt: new Date(Date.now() - 1000),
    endsAt: new Date(Date.now() + 3_600_000),
    admissionRate: 1000,
    admissionBurst: 1000,
    paused: false,
    preQueueLottery: false,
    createdAt: new Date(),
    updatedAt: new Date(),
  });
}

async function rows<T>(sql: string, params: unknown[] = []): Promise<T[]> {
  return orm.em.getConnection().execute<T[]>(sql, params);
}

beforeAll(async () => {
  worker = await startWorker(config); // runs the migrations into the test's schema
  orm = await createOrm(config.databaseUrl, config.databaseSchema);
  producer = kafka.producer();
  await producer.connect();
});

afterAll(async () => {
  await worker.close();
  await producer.disconnect();
  await orm.em.getConnection().execute(`drop schema "${config.databaseSchema}" cascade`);
  await orm.close();
  redis.disconnect();
});

test('10,000 events with 500 duplicates become exactly 9,500 orders, stock down by the confirmed quantities', async () => {
  await addProduct('BULK-1', 1_000_000);
  const orders = Array.from({ length: 9_500 }, (_, i) => order('BULK-1', (i % 3) + 1));
  const duplicates = orders.slice(0, 500);
  await send([...orders, ...duplicates].map(toRecord));

  await eventually(
    async () =>
      (await rows<{ n: string }>("select count(*) as n from orders where sku = 'BULK-1'"))[0]?.n ===
      '9500',
    60_000,
    '9,500 orders',
  );
  // Give any late duplicate a chance to (wrongly) change something before checking.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const [summary] = await rows<{ n: string; confirmed_qty: string; distinct_ids: string }>(
    `select count(*) as n, sum(quantity) filter (where status = 'CONFIRMED') as confirmed_qty,
            count(distinct order_id) as distinct_ids from orders where sku = 'BULK-1'`,
  );
  const expectedQty = orders.reduce((s, o) => s + o.quantity, 0);
  expect(summary).toEqual({ n: '9500', confirmed_qty: String(expectedQty), distinct_ids: '9500' });
  const [product] = await rows<{ stock: number }>("select stock from product where sku = 'BULK-1'");
  expect(product?.stock).toBe(1_000_000 - expectedQty);
});

test('orders beyond the database stock are REJECTED with a reason, and stock never goes below zero', async () => {
  await addProduct('TIGHT-1', 10);
  const orders = [
    order('TIGHT-1', 3),
    order('TIGHT-1', 3),
    order('TIGHT-1', 3),
    order('TIGHT-1', 2),
    order('TIGHT-1', 1),
  ];
  await send(orders.map(toRecord));
  await eventually(
    async () =>
      (await rows<{ n: string }>("select count(*) as n from orders where sku = 'TIGHT-1'"))[0]
        ?.n === '5',
    30_000,
    '5 orders',
  );
  const result = await rows<{ order_id: string; status: string; reject_reason: string | null }>(
    "select order_id, status, reject_reason from orders where sku = 'TIGHT-1'",
  );
  const byId = new Map(result.map((r) => [r.order_id, r]));
  // Greedy in partition order: 3+3+3 fit, 2 does not (1 left), 1 fits.
  expect(orders.map((o) => byId.get(o.orderId)?.status)).toEqual([
    'CONFIRMED',
    'CONFIRMED',
    'CONFIRMED',
    'REJECTED',
    'CONFIRMED',
  ]);
  expect(byId.get(orders[3]!.orderId)?.reject_reason).toBe('INSUFFICIENT_STOCK');
  const [product] = await rows<{ stock: number }>(
    "select stock from product where sku = 'TIGHT-1'",
  );
  expect(product?.stock).toBe(0);
});

test('two customers using the same idempotency key in one sale are two orders, not a key conflict', async () => {
  await addProduct('SHARED-KEY-1', 10);
  const [alice, bob] = ['alice', 'bob'].map((customerId) => ({
    ...randomAcceptedOrder('SHARED-KEY-1', 1, customerId),
    idempotencyKeyHash: hashIdempotencyKey(customerId, 'shared-key'),
  }));
  await send([alice!, bob!].map(toRecord));
  const recorded = () =>
    rows<{ customer_id: string; status: string }>(
      `select customer_id, status from orders where sku = 'SHARED-KEY-1' order by customer_id`,
    );
  await eventually(async () => (await recorded()).length === 2, 30_000, 'both orders');
  expect(await recorded()).toEqual([
    { customer_id: 'alice', status: 'CONFIRMED' },
    { customer_id: 'bob', status: 'CONFIRMED' },
  ]);
});

test('a redelivered order is announced again from its stored status (its first notification may never have gone out)', async () => {
  await addProduct('AGAIN-1', 10);
  const o = order('AGAIN-1', 2);
  const live = createRedisOrderStore(redis, keys, 60_000);
  await send([toRecord(o)]);
  await eventually(
    async () => (await live.get(o.orderId))?.status === 'CONFIRMED',
    30_000,
    'the first announcement',
  );
  // As if the worker had stopped between its commit and its notifications.
  await redis.del(keys.order(o.orderId));
  await live.remember(o);
  expect((await live.get(o.orderId))?.status).toBe('PENDING');

  await send([toRecord(o)]);
  await eventually(
    async () => (await live.get(o.orderId))?.status === 'CONFIRMED',
    30_000,
    'the order announced again',
  );
  const [stored] = await rows<{ finalized_ms: string; stock: number }>(
    `select (extract(epoch from o.finalized_at) * 1000)::bigint as finalized_ms, p.stock
       from orders o join product p using (sku) where o.order_id = ?`,
    [o.orderId],
  );
  expect((await live.get(o.orderId))?.finalizedAtMs).toBe(Number(stored?.finalized_ms));
  expect(stored?.stock).toBe(8); // recorded once
});

test('a batch that mixes new orders with one already recorded records the new ones and takes their stock once', async () => {
  await addProduct('MIXED-1', 10);
  const live = createRedisOrderStore(redis, keys, 60_000);
  const first = order('MIXED-1', 1);
  await send([toRecord(first)]);
  await eventually(
    async () => (await live.get(first.orderId))?.status === 'CONFIRMED',
    30_000,
    'the first order',
  );
  // Sent together, so most likely one batch: its all-new insert skips the recorded order, and
  // the batch is then recorded the careful way. Split into batches, the outcome is the same.
  const later = [order('MIXED-1', 2), order('MIXED-1', 3)];
  await send([toRecord(later[0]!), toRecord(first), toRecord(later[1]!)]);
  await eventually(
    async () =>
      (await Promise.all(later.map((o) => live.get(o.orderId)))).every(
        (v) => v?.status === 'CONFIRMED',
      ),
    30_000,
    'the new orders',
  );
  const [summary] = await rows<{ n: string; stock: number }>(
    `select count(*) as n, (select stock from product where sku = 'MIXED-1') as stock
       from orders where sku = 'MIXED-1'`,
  );
  expect(summary).toEqual({ n: '3', stock: 4 });
});

test('poison records go to the dead-letter topic with the original bytes; good orders around them are persisted', async () => {
  await addProduct('MIX-1', 100);
  const good = [order('MIX-1', 1), order('MIX-1', 2)];
  const garbage = Buffer.from([0xff, 0xff, 0xff, 0x07]);
  const badQuantity = Buffer.from(encodeOrderAccepted({ ...order('MIX-1', 1), quantity: 0 }));
  const unknownSku = order('NO-SUCH-SKU', 1);
  // The request id travels in the record's header; the unknown sku's record has none, so its
  // dead letter takes the id from the decoded event.
  await send([
    toRecord(good[0]!),
    { key: 'MIX-1', value: garbage, headers: { [requestIdHeader]: 'req-garbage' } },
    { key: 'MIX-1', value: badQuantity, headers: { [requestIdHeader]: 'req-bad-quantity' } },
    toRecord(unknownSku),
    toRecord(good[1]!),
  ]);

  const consumer = kafka.consumer({ groupId: `${config.workerGroupId}-dlq-reader` });
  await consumer.connect();
  await consumer.subscribe({ topic: topics.deadLetter, fromBeginning: true });
  const letters: { value: Uint8Array; error: string; requestId: string }[] = [];
  await consumer.run({
    eachMessage: async ({ message }) => {
      letters.push(decodeDeadLetter(message.value ?? new Uint8Array()));
    },
  });
  await eventually(async () => letters.length >= 3, 30_000, 'three dead letters');
  await consumer.disconnect();

  expect(letters.map((l) => Buffer.from(l.value).toString('hex')).sort()).toEqual(
    [garbage, badQuantity, Buffer.from(encodeOrderAccepted(unknownSku))]
      .map((b) => b.toString('hex'))
      .sort(),
  );
  expect(letters.every((l) => l.error.length > 0)).toBe(true);
  const requestIdByValue = new Map(
    letters.map((l) => [Buffer.from(l.value).toString('hex'), l.requestId]),
  );
  expect(requestIdByValue).toEqual(
    new Map([
      [garbage.toString('hex'), 'req-garbage'],
      [badQuantity.toString('hex'), 'req-bad-quantity'],
      [Buffer.from(encodeOrderAccepted(unknownSku)).toString('hex'), unknownSku.requestId],
    ]),
  );
  const persisted = await rows<{ order_id: string; status: string }>(
    'select order_id, status from orders where order_id = any(?::uuid[])',
    [`{${good.map((o) => o.orderId).join(',')}}`],
  );
  expect(persisted.map((r) => r.status)).toEqual(['CONFIRMED', 'CONFIRMED']);
  // The unknown sku's buyer is told: the order is recorded REJECTED.
  const [unknown] = await rows<{ status: string; reject_reason: string }>(
    'select status, reject_reason from orders where order_id = ?',
    [unknownSku.orderId],
  );
  expect(unknown).toEqual({ status: 'REJECTED', reject_reason: 'UNKNOWN_PRODUCT' });
});

test('the duplicate check needs no nested loop (an OR-join did, scanned orders per batch row, and stalled the worker)', async () => {
  const probe = JSON.stringify([{ order_id: uuidv7(), sku: 'BULK-1', key_hash: 'f'.repeat(64) }]);
  const plan = await orm.em.getConnection().transactional(async (tx) => {
    const run = (sql: string, params: unknown[] = []) =>
      orm.em.getConnection().execute(sql, params, 'all', tx);
    // With nested loops priced out, a query that can only be a nested loop still shows one.
    await run('set local enable_nestloop = off');
    return run(`explain ${recordedOrdersSql}`, [probe]);
  });
  const text = (plan as { 'QUERY PLAN': string }[]).map((row) => row['QUERY PLAN']).join('\n');
  expect(text).toMatch(/Hash Join|Merge Join/);
  expect(text).not.toMatch(/Nested Loop/);
});

test('orders sent one at a time are gathered into a few fetches, not persisted one batch each', async () => {
  await addProduct('TRICKLE-1', 100);
  const batches = async () =>
    sumSamples(await metricsPage(worker.opsUrl), 'fluxgate_worker_batches_total');
  const before = await batches();
  // 25 produce requests over about 250 ms: with a fetch answered at its first byte, each would
  // be a batch of its own; the broker holds a fetch for FLUXGATE_WORKER_FETCH_MAX_WAIT_MS (100).
  for (let i = 0; i < 25; i++) {
    await send([toRecord(order('TRICKLE-1', 1))]);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const count = async () =>
    (await rows<{ n: string }>("select count(*) as n from orders where sku = 'TRICKLE-1'"))[0]?.n;
  await eventually(async () => (await count()) === '25', 30_000, '25 orders');
  expect(config.workerFetchMaxWaitMs).toBe(100);
  const taken = (await batches()) - before;
  expect(taken).toBeGreaterThan(0);
  expect(taken).toBeLessThanOrEqual(8);
});
