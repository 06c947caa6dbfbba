/** A stream of orders straight into the order topic, bypassing the gate: what the worker is fed. */
import type { MikroORM } from '@mikro-orm/postgresql';
import { Kafka, logLevel } from 'kafkajs';
import type { Config } from '../../src/config.js';
import type { AcceptedOrder } from '../../src/domain/order.js';
import { encodeOrderAccepted } from '../../src/kafka/codec.js';
import { createTopics, ensureTopics } from '../../src/kafka/topics.js';
import { runMigrations } from '../../src/main-migrate.js';
import { createOrm } from '../../src/persistence/orm.js';
import { randomAcceptedOrder } from '../fixtures/orders.js';

/**
 * A stream of orders for one product straight into the order topic, bypassing the gate: a
 * migrated schema with the product, a producer, and the orders to send.
 */
export interface OrderStream {
  readonly orm: MikroORM;
  readonly orders: readonly AcceptedOrder[];
  /** Sends orders[from, to) in chunks, pausing a little between chunks (a stream, not a dump). */
  produce(from: number, to: number): Promise<void>;
  /** Orders recorded in the database, or -1 while it cannot answer. */
  recorded(): Promise<number>;
  /** Disconnects and drops the test schema. */
  close(): Promise<void>;
}

/** Prepares `total` orders of `sku` (quantity by index) against a product with plenty of stock. */
export async function createOrderStream(
  config: Config,
  sku: string,
  total: number,
  quantity: (i: number) => number,
): Promise<OrderStream> {
  await runMigrations(config);
  const orm = await createOrm(config.databaseUrl, config.databaseSchema);
  await orm.em.getConnection().execute(
    `insert into product (sku, name, stock, total_stock, per_customer_limit, starts_at, ends_at, admission_rate, admission_burst)
     values (?, ?, 1000000, 1000000, 1000, now(), now() + interval '1 hour', 1000, 1000)`,
    [sku, sku],
  );
  const topics = createTopics(config.topicPrefix);
  const kafka = new Kafka({ brokers: config.kafkaBrokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, topics, config.orderTopicPartitions);
  await admin.disconnect();
  const producer = kafka.producer();
  await producer.connect();
  const orders = Array.from({ length: total }, (_, i) =>
    randomAcceptedOrder(sku, quantity(i), `c${i}`),
  );
  return {
    orm,
    orders,
    async produce(from, to) {
      for (let i = from; i < to; i += 100) {
        const chunk = orders.slice(i, Math.min(i + 100, to));
        await producer.send({
          topic: topics.orders,
          acks: -1,
          messages: chunk.map((o) => ({ key: o.sku, value: Buffer.from(encodeOrderAccepted(o)) })),
        });
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    },
    async recorded() {
      try {
        const [row] = await orm.em
          .getConnection()
          .execute<{ n: string }[]>('select count(*) as n from orders');
        return Number(row?.n);
      } catch {
        return -1;
      }
    },
    async close() {
      await producer.disconnect();
      await orm.em.getConnection().execute(`drop schema "${config.databaseSchema}" cascade`);
      await orm.close();
    },
  };
}
