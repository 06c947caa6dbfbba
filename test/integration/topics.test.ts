/**
 * Gates and workers create the topics they need at start-up, several at once. Against a fresh
 * broker this raced the broker's own metadata (kafkajs #1222, patched in patches/): every
 * client must come back with the topics created and led. Their readiness probe asks about the
 * order topic only, however many topics the broker holds.
 */
import { randomBytes } from 'node:crypto';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createTopics, ensureTopics, probeBroker } from '../../src/kafka/topics.js';
import { isolatedConfig } from '../support/stack.js';

const config = isolatedConfig();
const admins: Admin[] = [];

beforeAll(async () => {
  for (let i = 0; i < 3; i++) {
    const admin = new Kafka({ brokers: config.kafkaBrokers, logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    admins.push(admin);
  }
});

afterAll(async () => {
  await Promise.all(admins.map((a) => a.disconnect()));
});

test('three clients creating the same topics at once all succeed, ten times over', async () => {
  for (let round = 0; round < 10; round++) {
    const topics = createTopics(
      `${config.topicPrefix}race${round}-${randomBytes(2).toString('hex')}.`,
    );
    const results = await Promise.allSettled(
      admins.map((admin) => ensureTopics(admin, topics, config.orderTopicPartitions)),
    );
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    const { topics: metadata } = await admins[0]!.fetchTopicMetadata({
      topics: [topics.orders, topics.orderStatus, topics.deadLetter],
    });
    for (const t of metadata) expect(t.partitions.every((p) => p.leader >= 0)).toBe(true);
  }
});

test('the order topic gets FLUXGATE_ORDER_TOPIC_PARTITIONS; an existing one keeps its own, with a warning', async () => {
  const admin = admins[0]!;
  const topics = createTopics(`${config.topicPrefix}parts-${randomBytes(2).toString('hex')}.`);
  const partitionsOf = async () =>
    Object.fromEntries(
      (
        await admin.fetchTopicMetadata({
          topics: [topics.orders, topics.orderStatus, topics.deadLetter],
        })
      ).topics.map((t) => [t.name, t.partitions.length]),
    );
  const warnings: unknown[] = [];
  const logger = { warn: (fields: unknown) => warnings.push(fields) };

  await ensureTopics(admin, topics, 5, logger);
  const created = { [topics.orders]: 5, [topics.orderStatus]: 3, [topics.deadLetter]: 3 };
  expect(await partitionsOf()).toEqual(created);
  expect(warnings).toEqual([]);

  await ensureTopics(admin, topics, 5, logger);
  expect(warnings).toEqual([]);
  await ensureTopics(admin, topics, 8, logger);
  expect(await partitionsOf()).toEqual(created);
  expect(warnings).toEqual([{ topic: topics.orders, partitions: 5, configured: 8 }]);
});

test('the readiness probe asks about the order topic only: its answer does not grow with the broker’s other topics', async () => {
  const admin = admins[0]!;
  const prefix = `${config.topicPrefix}probe-${randomBytes(2).toString('hex')}.`;
  const topics = createTopics(prefix);
  await ensureTopics(admin, topics, config.orderTopicPartitions);
  let answerBytes: number[] = [];
  admin.on(admin.events.REQUEST, ({ payload }) => {
    if (payload.apiName === 'Metadata') answerBytes.push(payload.size);
  });
  // The sizes of the metadata answers one probe got (kafkajs may refresh its own copy first).
  const probe = async () => {
    answerBytes = [];
    await probeBroker(admin, topics.orders);
    return new Set(answerBytes);
  };
  const before = await probe();
  expect(before.size).toBe(1);
  await admin.createTopics({
    waitForLeaders: true,
    topics: [1, 2, 3].map((i) => ({ topic: `${prefix}other-${String(i)}`, numPartitions: 1 })),
  });
  expect(await probe()).toEqual(before);
});
