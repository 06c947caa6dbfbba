/**
 * Each server of the local stack is real and reachable from Node: Redis runs Lua, Kafka moves a
 * record through a consumer group and keeps its committed offset, MikroORM migrates PostgreSQL.
 */
import type { MikroORM } from '@mikro-orm/postgresql';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, expect, test } from 'vitest';
import { createTopics, ensureTopics } from '../../src/kafka/topics.js';
import { createOrm, migrate } from '../../src/persistence/orm.js';
import { isolatedConfig, redisFor } from '../support/stack.js';

const config = isolatedConfig();
const { redis } = redisFor(config);
let orm: MikroORM | undefined;

afterAll(async () => {
  redis.disconnect();
  await orm?.em.getConnection().execute(`drop schema if exists "${config.databaseSchema}" cascade`);
  await orm?.close();
});

test('Redis: EVAL runs a Lua script on the server', async () => {
  const key = `${config.redisKeyPrefix}:smoke`;
  expect(
    await redis.eval(
      "redis.call('SET', KEYS[1], ARGV[1]); return redis.call('INCRBY', KEYS[1], 2)",
      1,
      key,
      40,
    ),
  ).toBe(42);
});

test('Kafka: a record produced is consumed through a consumer group, and the committed offset is kept', async () => {
  const kafka = new Kafka({ brokers: config.kafkaBrokers, logLevel: logLevel.NOTHING });
  const topic = createTopics(config.topicPrefix).orders;
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, createTopics(config.topicPrefix), config.orderTopicPartitions);
  const producer = kafka.producer();
  await producer.connect();
  await producer.send({ topic, acks: -1, messages: [{ key: 'k', value: 'hello' }] });
  await producer.disconnect();

  const groupId = `${config.workerGroupId}-smoke`;
  const consumer = kafka.consumer({ groupId });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const got = await new Promise<{ value: string; partition: number; offset: string }>((resolve) => {
    void consumer.run({
      autoCommit: false,
      eachMessage: async ({ message, partition }) => {
        await consumer.commitOffsets([
          { topic, partition, offset: (BigInt(message.offset) + 1n).toString() },
        ]);
        resolve({ value: message.value?.toString() ?? '', partition, offset: message.offset });
      },
    });
  });
  await consumer.disconnect();
  expect(got.value).toBe('hello');
  const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
  expect(committed?.partitions.find((p) => p.partition === got.partition)?.offset).toBe(
    String(Number(got.offset) + 1),
  );
  await admin.disconnect();
});

test('PostgreSQL: MikroORM connects and runs the migrations', async () => {
  orm = await createOrm(config.databaseUrl, config.databaseSchema);
  expect(await migrate(orm, config.databaseSchema)).toEqual([
    '20261124-initial',
    '20261130-admin-request',
    '20261201-pre-queue-lottery',
  ]);
  expect(await migrate(orm, config.databaseSchema)).toEqual([]); // a second run has nothing to do
  const tables = await orm.em
    .getConnection()
    .execute<{ table_name: string }[]>(
      'select table_name from information_schema.tables where table_schema = ? order by 1',
      [config.databaseSchema],
    );
  expect(tables.map((t) => t.table_name)).toEqual([
    'admin_request',
    'mikro_orm_migrations',
    'orders',
    'product',
  ]);
});
