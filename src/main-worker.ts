/**
 * The worker process: consumes OrderAccepted events and persists them to PostgreSQL, serving
 * metrics and health on its operations port. Unreachable dependencies are retried at start-up.
 * Shuts down gracefully on SIGTERM / SIGINT: the batch in hand finishes and commits first.
 */
import { Kafka, Partitioners, logLevel } from 'kafkajs';
import { pino } from 'pino';
import type { Config } from './config.js';
import { kafkaLogCreator } from './kafka/log.js';
import { consumerLagByPartition, createTopics, ensureTopics, probeBroker } from './kafka/topics.js';
import { createWorkerMetrics } from './ops/metrics.js';
import { startOpsServer } from './ops/ops-server.js';
import { startReadiness } from './ops/readiness.js';
import { shutDown } from './ops/shutdown.js';
import { retryStartup } from './ops/startup.js';
import { createOrderBatchStore } from './persistence/order-batch.js';
import { createOrm, migrate } from './persistence/orm.js';
import { isEntryPoint, runMain } from './run-main.js';
import { createKeys } from './redis/keys.js';
import { connectRedis } from './redis/client.js';
import { createRedisWorkerNotifier } from './redis/worker-notifier.js';
import { startTracing } from './tracing.js';
import { consumeOrders } from './worker/consume.js';

/** A running worker. */
export interface RunningWorker {
  /** Base URL of the operations port (/metrics, /healthz, /readyz). */
  readonly opsUrl: string;
  /** Finishes the batch in hand, commits, disconnects. */
  close(): Promise<void>;
}

/** Starts a worker with `config`; resolves once it consumes. */
export async function startWorker(config: Config): Promise<RunningWorker> {
  const logger = pino({ level: config.logLevel, base: { service: 'worker' } });
  const tracing = await startTracing(config, 'fluxgate-worker');
  const startup = { logger, timeoutSeconds: config.startupTimeoutSeconds };
  const orm = await retryStartup(
    'postgresql',
    () => createOrm(config.databaseUrl, config.databaseSchema),
    startup,
  );
  if (config.workerMigrate) {
    const applied = await migrate(orm, config.databaseSchema);
    if (applied.length > 0) logger.info({ applied }, 'migrations applied');
  }
  // Autopipelined: a transaction's status records and events (a SET and a PUBLISH per order,
  // issued together) go out in one write each instead of one write per command. It raised the
  // worker's rate against plain pg inserts from 0.35-0.41 to 0.50-0.51 (bench:worker).
  const redis = connectRedis(config, { enableAutoPipelining: true });
  redis.on('error', (error: Error) => {
    logger.debug({ err: error }, 'redis connection');
  });
  await retryStartup('redis', () => redis.ping(), startup);
  const topics = createTopics(config.topicPrefix);
  const kafka = new Kafka({
    clientId: 'fluxgate-worker',
    brokers: config.kafkaBrokers,
    logLevel: logLevel.WARN,
    logCreator: kafkaLogCreator(logger),
    // Reconnect within seconds of the broker's return: kafkajs's default backoff grows to 30 s,
    // and the consumer restarts with it, so a backlog accepted during an outage would wait.
    retry: { initialRetryTime: 200, maxRetryTime: 2000, retries: 10 },
  });
  // Kept connected: readiness and the consumer lag gauge ask it.
  const admin = kafka.admin();
  await retryStartup(
    'kafka',
    async () => {
      await admin.connect();
      await ensureTopics(admin, topics, config.orderTopicPartitions, logger);
    },
    startup,
  );
  const metrics = createWorkerMetrics({
    lag: () => consumerLagByPartition(admin, config.workerGroupId, topics.orders),
  });
  const readiness = startReadiness([
    { name: 'postgresql', check: () => orm.em.getConnection().execute('select 1') },
    { name: 'redis', check: () => redis.ping() },
    { name: 'kafka', check: () => probeBroker(admin, topics.orders) },
  ]);

  // A crashed worker's partitions move to a live one after the session timeout, and after a broker
  // restart the group waits that long for the members it remembers: the broker's minimum, 6 s.
  const consumer = kafka.consumer({
    groupId: config.workerGroupId,
    sessionTimeout: 6_000,
    heartbeatInterval: 2_000,
    minBytes: config.workerFetchMinBytes,
    maxWaitTimeInMs: config.workerFetchMaxWaitMs,
  });
  // Not idempotent: status events and dead letters are at least once anyway (a redelivered
  // batch publishes them again), and an idempotent producer whose sequence numbers a restarted
  // broker no longer accepts fails every send (OUT_OF_ORDER_SEQUENCE_NUMBER) and stalls the
  // worker. One request in flight keeps each batch's events in order.
  const producer = kafka.producer({
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await Promise.all([consumer.connect(), producer.connect()]);
  await consumeOrders({
    consumer,
    producer,
    orders: createOrderBatchStore(orm.em),
    topics,
    notifier: createRedisWorkerNotifier(
      redis,
      createKeys(config.redisKeyPrefix),
      config.idempotencyTtlSeconds * 1000,
    ),
    logger,
    retryInitialMs: 100,
    retryMaxMs: 5000,
    transactionSize: config.workerTransactionSize,
    failpoint: config.workerFailpoint,
    observer: {
      batchPersisted(size, seconds, statuses) {
        metrics.batches.inc();
        metrics.batchSize.observe(size);
        metrics.transactionSeconds.observe(seconds);
        for (const status of statuses) metrics.ordersPersisted.inc({ status });
      },
      deadLettered(reason) {
        metrics.deadLetters.inc({ reason });
      },
    },
  });
  const ops = await startOpsServer(
    metrics.registry,
    readiness,
    config.opsHost,
    config.workerOpsPort,
  );
  logger.info(
    { ops: ops.url, traces: tracing.enabled ? config.otlpEndpoint : 'off' },
    'worker consuming',
  );
  return {
    opsUrl: ops.url,
    async close() {
      readiness.drain();
      await shutDown(
        [
          // Waits for the batch in hand, which commits its offsets before it ends.
          ['stop consuming', () => consumer.disconnect()],
          ['close the producer', () => producer.disconnect()],
          ['close the operations port', () => ops.close()],
          [
            'close clients',
            async () => {
              await admin.disconnect();
              await orm.close();
              redis.disconnect();
            },
          ],
          ['export the last spans', () => tracing.close()],
        ],
        config.shutdownGraceMs + 1000,
        logger,
      );
      logger.info('worker stopped');
    },
  };
}

if (isEntryPoint(import.meta.url)) await runMain(startWorker);
