/**
 * The worker is SIGKILLed in the middle of a stream and restarted: every order is persisted
 * exactly once and the stock moved by exactly the confirmed quantities.
 */
import type { MikroORM } from '@mikro-orm/postgresql';
import { Kafka, logLevel, type Producer } from 'kafkajs';
import { randomBytes, randomUUID } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { AcceptedOrder } from '../../src/domain/order.js';
import { encodeOrderAccepted } from '../../src/kafka/codec.js';
import { createTopics, ensureTopics } from '../../src/kafka/topics.js';
import { runMigrations } from '../../src/main-migrate.js';
import { createOrm } from '../../src/persistence/orm.js';
import { eventually, isolatedConfig } from '../integration/support.js';
import { exited, spawnWorker } from './support.js';

const config = isolatedConfig({ logLevel: 'warn' });
const topics = createTopics(config.topicPrefix);
const kafka = new Kafka({ brokers: config.kafkaBrokers, logLevel: logLevel.NOTHING });
let producer: Producer;
let orm: MikroORM;

const count = async () =>
  Number(
    (await orm.em.getConnection().execute<{ n: string }[]>('select count(*) as n from orders'))[0]
      ?.n,
  );

beforeAll(async () => {
  await runMigrations(config);
  orm = await createOrm(config.databaseUrl, config.databaseSchema);
  await orm.em.getConnection().execute(
    `insert into product (sku, name, stock, total_stock, per_customer_limit, starts_at, ends_at, admission_rate, admission_burst)
     values ('CRASH-1', 'crash', 1000000, 1000000, 1000, now(), now() + interval '1 hour', 1000, 1000)`,
  );
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, topics);
  await admin.disconnect();
  producer = kafka.producer();
  await producer.connect();
});

afterAll(async () => {
  await producer.disconnect();
  await orm.em.getConnection().execute(`drop schema "${config.databaseSchema}" cascade`);
  await orm.close();
});

test('SIGKILL mid-stream, restart: every order persisted exactly once', async () => {
  const orders: AcceptedOrder[] = Array.from({ length: 6000 }, (_, i) => ({
    orderId: uuidv7(),
    sku: 'CRASH-1',
    quantity: (i % 3) + 1,
    customerId: `c${i}`,
    idempotencyKeyHash: randomBytes(32).toString('hex'),
    acceptedAtMs: Date.now(),
    requestId: randomUUID(),
  }));
  const produce = async (from: number, to: number) => {
    for (let i = from; i < to; i += 250) {
      const chunk = orders.slice(i, Math.min(i + 250, to));
      await producer.send({
        topic: topics.orders,
        acks: -1,
        messages: chunk.map((o) => ({ key: o.sku, value: Buffer.from(encodeOrderAccepted(o)) })),
      });
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };

  const first = spawnWorker(config);
  await produce(0, 3000);
  await eventually(async () => (await count()) >= 500, 60_000, 'the first orders');
  first.kill('SIGKILL');
  expect(await exited(first)).toBe('SIGKILL');
  const atKill = await count();
  expect(atKill).toBeLessThan(6000);

  await produce(3000, 6000);
  const second = spawnWorker(config);
  try {
    await eventually(async () => (await count()) === 6000, 120_000, 'all 6,000 orders');
    await new Promise((resolve) => setTimeout(resolve, 1000)); // room for a wrong extra write
  } finally {
    second.kill('SIGTERM');
    expect(await exited(second)).toBe(0);
  }
  const [row] = await orm.em
    .getConnection()
    .execute<{ n: string; ids: string; qty: string; stock: number }[]>(
      `select count(*) as n, count(distinct order_id) as ids,
            sum(quantity) filter (where status = 'CONFIRMED') as qty,
            (select stock from product where sku = 'CRASH-1') as stock
       from orders`,
    );
  const total = orders.reduce((s, o) => s + o.quantity, 0);
  expect(row).toEqual({ n: '6000', ids: '6000', qty: String(total), stock: 1_000_000 - total });
});
