/**
 * The worker process: consumes OrderAccepted events and persists them to PostgreSQL. Shuts
 * down gracefully on SIGTERM / SIGINT: the batch in hand finishes and commits first.
 */
import { Redis } from 'ioredis';
import { Kafka, Partitioners, logLevel } from 'kafkajs';
import { pino } from 'pino';
import type { Config } from './config.js';
import { kafkaLogCreator } from './kafka/log.js';
import { createTopics, ensureTopics } from './kafka/topics.js';
import { createOrm, migrate } from './persistence/orm.js';
import { isEntryPoint, runMain } from './run-main.js';
import { createKeys } from './redis/keys.js';
import { createRedisWorkerNotifier } from './redis/worker-notifier.js';
import { consumeOrders } from './worker/consume.js';

/** A running worker. */
export interface RunningWorker {
  /** Finishes the batch in hand, commits, disconnects. */
  close(): Promise<void>;
}

/** Starts a worker with `config`; resolves once it consumes. */
export async function startWorker(config: Config): Promise<RunningWorker> {
  const logger = pino({ level: config.logLevel, base: { service: 'worker' } });
  const orm = await createOrm(config.databaseUrl, config.databaseSchema);
  if (config.workerMigrate) {
    const applied = await migrate(orm, config.databaseSchema);
    if (applied.length > 0) logger.info({ applied }, 'migrations applied');
  }
  const redis = new Redis(config.redisUrl);
  const topics = createTopics(config.topicPrefix);
  const kafka = new Kafka({
    clientId: 'fluxgate-worker',
    brokers: config.kafkaBrokers,
    logLevel: logLevel.WARN,
    logCreator: kafkaLogCreator(logger),
  });
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, topics);
  await admin.disconnect();

  // A crashed worker's partitions move to a live one after the session timeout: keep it short.
  const consumer = kafka.consumer({
    groupId: config.workerGroupId,
    sessionTimeout: 10_000,
    heartbeatInterval: 2_000,
  });
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await Promise.all([consumer.connect(), producer.connect()]);
  await consumeOrders({
    consumer,
    producer,
    em: orm.em,
    topics,
    notifier: createRedisWorkerNotifier(
      redis,
      createKeys(config.redisKeyPrefix),
      config.idempotencyTtlSeconds * 1000,
    ),
    logger,
    retryInitialMs: 100,
    retryMaxMs: 5000,
  });
  return {
    async close() {
      await consumer.disconnect();
      await producer.disconnect();
      await orm.close();
      redis.disconnect();
    },
  };
}

if (isEntryPoint(import.meta.url)) await runMain(startWorker);
