/**
 * PostgreSQL stopped for several seconds while orders stream in: the worker retries the batch
 * with backoff and never skips it; afterwards no order is lost or doubled, and the consumer
 * lag returns to zero.
 */
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { consumerLag, createTopics } from '../../src/kafka/topics.js';
import { createOrderStream, type OrderStream } from '../support/order-stream.js';
import { exited, spawnWorker, startServer, stopServer } from '../support/processes.js';
import { eventually, isolatedConfig } from '../support/stack.js';

const config = isolatedConfig({ logLevel: 'error' });
const kafka = new Kafka({ brokers: config.kafkaBrokers, logLevel: logLevel.NOTHING });
let stream: OrderStream;

/** Total lag of the worker's group on the order topic. */
async function lag(): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return await consumerLag(admin, config.workerGroupId, createTopics(config.topicPrefix).orders);
  } finally {
    await admin.disconnect();
  }
}

beforeAll(async () => {
  stream = await createOrderStream(config, 'DBDOWN-1', 3000, () => 1);
});

afterAll(async () => {
  await startServer('postgres');
  await stream.close();
});

test('database down for seconds mid-stream: no loss, no duplicate, lag back to zero', async () => {
  const worker = spawnWorker(config);
  try {
    await stream.produce(0, 1000);
    await eventually(async () => (await stream.recorded()) >= 200, 60_000, 'the first orders');
    await stopServer('postgres');
    await stream.produce(1000, 2000); // arrives while the database is down
    await new Promise((resolve) => setTimeout(resolve, 5000));
    expect(worker.exitCode).toBeNull(); // still alive, retrying
    await startServer('postgres');
    await stream.produce(2000, 3000);
    await eventually(async () => (await stream.recorded()) === 3000, 120_000, 'all 3,000 orders');
    await eventually(async () => (await lag()) === 0, 60_000, 'consumer lag to return to zero');
  } finally {
    worker.kill('SIGTERM');
    expect(await exited(worker)).toBe(0);
  }
  const [row] = await stream.orm.em
    .getConnection()
    .execute<{ n: string; ids: string; stock: number }[]>(
      `select count(*) as n, count(distinct order_id) as ids, (select stock from product where sku = 'DBDOWN-1') as stock
       from orders where status = 'CONFIRMED'`,
    );
  expect(row).toEqual({ n: '3000', ids: '3000', stock: 1_000_000 - 3000 });
});
