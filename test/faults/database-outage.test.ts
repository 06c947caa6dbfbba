/**
 * PostgreSQL stopped for several seconds while orders stream in: the worker retries the batch
 * with backoff and never skips it; afterwards no order is lost or doubled, and the consumer
 * lag returns to zero.
 */
import type { MikroORM } from '@mikro-orm/postgresql';
import { Kafka, logLevel, type Producer } from 'kafkajs';
import { randomBytes, randomUUID } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { AcceptedOrder } from '../../src/domain/order.js';
import { encodeOrderAccepted } from '../../src/kafka/codec.js';
import { consumerLag, createTopics, ensureTopics } from '../../src/kafka/topics.js';
import { runMigrations } from '../../src/main-migrate.js';
import { createOrm } from '../../src/persistence/orm.js';
import { eventually, isolatedConfig } from '../integration/support.js';
import { exited, spawnWorker, startServer, stopServer } from './support.js';

const config = isolatedConfig({ logLevel: 'error' });
const topics = createTopics(config.topicPrefix);
const kafka = new Kafka({ brokers: config.kafkaBrokers, logLevel: logLevel.NOTHING });
let producer: Producer;
let orm: MikroORM;

/** Orders persisted, or -1 while the database cannot answer. */
const count = async () => {
  try {
    return Number(
      (await orm.em.getConnection().execute<{ n: string }[]>('select count(*) as n from orders'))[0]
        ?.n,
    );
  } catch {
    return -1;
  }
};

/** Total lag of the worker's group on the order topic. */
async function lag(): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return await consumerLag(admin, config.workerGroupId, topics.orders);
  } finally {
    await admin.disconnect();
  }
}

beforeAll(async () => {
  await runMigrations(config);
  orm = await createOrm(config.databaseUrl, config.databaseSchema);
  await orm.em.getConnection().execute(
    `insert into product (sku, name, stock, total_stock, per_customer_limit, starts_at, ends_at, admission_rate, admission_burst)
     values ('DBDOWN-1', 'db down', 1000000, 1000000, 1000, now(), now() + interval '1 hour', 1000, 1000)`,
  );
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, topics);
  await admin.disconnect();
  producer = kafka.producer();
  await producer.connect();
});

afterAll(async () => {
  await startServer('postgres');
  await producer.disconnect();
  await orm.em.getConnection().execute(`drop schema "${config.databaseSchema}" cascade`);
  await orm.close();
});

test('database down for seconds mid-stream: no loss, no duplicate, lag back to zero', async () => {
  const orders: AcceptedOrder[] = Array.from({ length: 3000 }, (_, i) => ({
    orderId: uuidv7(),
    sku: 'DBDOWN-1',
    quantity: 1,
    customerId: `c${i}`,
    idempotencyKeyHash: randomBytes(32).toString('hex'),
    acceptedAtMs: Date.now(),
    requestId: randomUUID(),
  }));
  const produce = async (from: number, to: number) => {
    for (let i = from; i < to; i += 100) {
      const chunk = orders.slice(i, Math.min(i + 100, to));
      await producer.send({
        topic: topics.orders,
        acks: -1,
        messages: chunk.map((o) => ({ key: o.sku, value: Buffer.from(encodeOrderAccepted(o)) })),
      });
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };

  const worker = spawnWorker(config);
  try {
    await produce(0, 1000);
    await eventually(async () => (await count()) >= 200, 60_000, 'the first orders');
    await stopServer('postgres');
    await produce(1000, 2000); // arrives while the database is down
    await new Promise((resolve) => setTimeout(resolve, 5000));
    expect(worker.exitCode).toBeNull(); // still alive, retrying
    await startServer('postgres');
    await produce(2000, 3000);
    await eventually(async () => (await count()) === 3000, 120_000, 'all 3,000 orders');
    await eventually(async () => (await lag()) === 0, 60_000, 'consumer lag to return to zero');
  } finally {
    worker.kill('SIGTERM');
    expect(await exited(worker)).toBe(0);
  }
  const [row] = await orm.em.getConnection().execute<{ n: string; ids: string; stock: number }[]>(
    `select count(*) as n, count(distinct order_id) as ids, (select stock from product where sku = 'DBDOWN-1') as stock
       from orders where status = 'CONFIRMED'`,
  );
  expect(row).toEqual({ n: '3000', ids: '3000', stock: 1_000_000 - 3000 });
});
