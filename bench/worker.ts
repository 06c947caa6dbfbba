/**
 * Worker benchmark (npm run bench:worker). Prints figures; asserts nothing.
 *
 * Fills a fresh topic with N OrderAccepted events, then measures how fast the real worker
 * (decode, one transaction per batch, dead-letter and status publishing, offset commit)
 * persists them. In the same run, the baseline: the same rows written by plain batched
 * multi-row INSERTs through `pg` into the same table in another schema.
 */
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { loadConfig } from '../src/config.js';
import { encodeOrderAccepted } from '../src/kafka/codec.js';
import { createTopics, ensureTopics } from '../src/kafka/topics.js';
import { runMigrations } from '../src/main-migrate.js';
import { startWorker } from '../src/main-worker.js';
import { randomAcceptedOrder } from '../test/fixtures/orders.js';
import { insertBenchProduct } from './setup.js';

const total = Number(process.env.BENCH_ORDERS ?? 50_000);
const baselineBatch = Number(process.env.BENCH_BATCH ?? 500);
const id = `wbench${Date.now().toString(36)}`;
const config = loadConfig(process.env, {
  topicPrefix: `${id}.`,
  redisKeyPrefix: id,
  databaseSchema: id,
  workerGroupId: `${id}-worker`,
  logLevel: 'warn',
});
const baselineSchema = `${id}_baseline`;
const topics = createTopics(config.topicPrefix);
const sku = 'WBENCH-1';

const orders = Array.from({ length: total }, (_, i) => randomAcceptedOrder(sku, 1, `c${i}`));

const db = new pg.Client({ connectionString: config.databaseUrl });
await db.connect();
for (const schema of [config.databaseSchema, baselineSchema]) {
  await runMigrations({ ...config, databaseSchema: schema });
  await insertBenchProduct(db, schema, sku);
}

console.log(`worker benchmark: ${total} orders`);
const kafka = new Kafka({ brokers: config.kafkaBrokers, logLevel: logLevel.NOTHING });
const admin = kafka.admin();
await admin.connect();
await ensureTopics(admin, topics, config.orderTopicPartitions);
await admin.disconnect();
const producer = kafka.producer();
await producer.connect();
for (let i = 0; i < total; i += 1000) {
  await producer.send({
    topic: topics.orders,
    acks: -1,
    messages: orders
      .slice(i, i + 1000)
      .map((o) => ({ key: o.sku, value: Buffer.from(encodeOrderAccepted(o)) })),
  });
}
await producer.disconnect();

const count = async (schema: string) =>
  Number(
    (await db.query<{ n: string }>(`select count(*) as n from "${schema}".orders`)).rows[0]?.n,
  );

const workerStart = performance.now();
const worker = await startWorker(config);
let firstAt = 0;
let firstCount = 0;
for (let n = 0; n < total; n = await count(config.databaseSchema)) {
  if (n > 0 && firstAt === 0) [firstAt, firstCount] = [performance.now(), n];
  await new Promise((resolve) => setTimeout(resolve, 20));
}
const workerEnd = performance.now();
const workerSeconds = (workerEnd - workerStart) / 1000;
const steadyRate = (total - firstCount) / ((workerEnd - firstAt) / 1000);
await worker.close();

const baselineStart = performance.now();
for (let i = 0; i < total; i += baselineBatch) {
  const chunk = orders.slice(i, i + baselineBatch);
  const values: unknown[] = [];
  const rows = chunk.map((o, j) => {
    values.push(
      o.orderId,
      o.sku,
      o.quantity,
      o.customerId,
      o.idempotencyKeyHash,
      new Date(o.acceptedAtMs),
      o.requestId,
      0,
      i + j,
    );
    const b = j * 9;
    return `($${b + 1}, $${b + 2}, $${b + 3}, $${b + 4}, $${b + 5}, 'CONFIRMED', null, $${b + 6}, now(), $${b + 7}, $${b + 8}, $${b + 9})`;
  });
  await db.query(
    `insert into "${baselineSchema}".orders (order_id, sku, quantity, customer_id, idempotency_key_hash, status, reject_reason,
       accepted_at, finalized_at, request_id, kafka_partition, kafka_offset) values ${rows.join(', ')}`,
    values,
  );
}
const baselineSeconds = (performance.now() - baselineStart) / 1000;

const workerRate = total / workerSeconds;
const baselineRate = total / baselineSeconds;
console.log(
  `worker, whole run (incl. start-up and group join): ${workerRate.toFixed(0).padStart(8)} orders/s  (${workerSeconds.toFixed(2)} s)`,
);
console.log(
  `worker, steady state (first order to last):       ${steadyRate.toFixed(0).padStart(8)} orders/s`,
);
console.log(
  `baseline (plain pg multi-row INSERT, ${baselineBatch} per statement): ${baselineRate.toFixed(0).padStart(8)} rows/s    (${baselineSeconds.toFixed(2)} s)`,
);
console.log(`ratio worker, whole run / baseline: ${(workerRate / baselineRate).toFixed(2)}`);
console.log(`ratio worker, steady state / baseline: ${(steadyRate / baselineRate).toFixed(2)}`);

for (const schema of [config.databaseSchema, baselineSchema])
  await db.query(`drop schema "${schema}" cascade`);
await db.end();
