/**
 * The gate process: builds the concrete clients (retrying unreachable ones at start-up), wires
 * the ports, listens, relays the outbox, serves metrics and health on the operations port, and
 * shuts down gracefully on SIGTERM / SIGINT (a second signal forces exit). With
 * FLUXGATE_GATE_PROCESSES above 1 the process started is a cluster primary instead: it runs
 * that many gate processes on the one port and serves the operations port for them all
 * (src/ops/cluster.ts).
 */
import { getRandomValues, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { Kafka, Partitioners, logLevel } from 'kafkajs';
import { pino, type Logger } from 'pino';
import type { Registry } from 'prom-client';
import { v7 as uuidv7 } from 'uuid';
import type { Config } from './config.js';
import { createAdmin } from './domain/admin.js';
import { SaleWatch, createFigureReader } from './domain/sale-watch.js';
import { createOrderLookup } from './domain/order-lookup.js';
import { startOutboxRelay } from './domain/outbox-relay.js';
import { createOrderPlacer, type OrderPlacer } from './domain/place-order.js';
import type { LiveSales } from './domain/ports.js';
import { createSaleRecovery } from './domain/sale-recovery.js';
import { createBreaker } from './resilience/breaker.js';
import { guarded, redisUnsent } from './resilience/guard.js';
import { takeLock } from './redis/lock.js';
import { EdgeAdmission } from './admission/edge-admission.js';
import { SaleFlags } from './admission/sale-flags.js';
import { AcceptedKeys } from './admission/accepted-keys.js';
import { OverloadGuard, watchEventLoop } from './admission/overload.js';
import { OrderGateService } from '../gen/fluxgate/v1/order_gate_pb.js';
import { Refusal } from './domain/refusal.js';
import { buildServer } from './gate/build-server.js';
import { adminTokensOf, createAdminAuth } from './gate/admin-auth.js';
import { createBuyerAuth } from './gate/buyer-auth.js';
import { errorInterceptor, refusalToConnectError } from './gate/error-mapping.js';
import { cachedShedAnswers, requestPath, type Shedding } from './gate/shedding.js';
import { gateRoutes } from './gate/routes.js';
import { metricsInterceptor } from './gate/metrics-interceptor.js';
import { tracingInterceptor } from './gate/tracing-interceptor.js';
import { kafkaLogCreator } from './kafka/log.js';
import { clusterMember, startPrimary, type ClusterMember } from './ops/cluster.js';
import { createGateMetrics } from './ops/metrics.js';
import { startOpsServer } from './ops/ops-server.js';
import { startReadiness, type Readiness } from './ops/readiness.js';
import { shutDown } from './ops/shutdown.js';
import { retryStartup } from './ops/startup.js';
import { outboxDepth, readOutboxStats } from './redis/outbox.js';
import { createKafkaPublisher } from './kafka/publisher.js';
import { consumerLag, createTopics, ensureTopics, probeBroker } from './kafka/topics.js';
import { createRepository } from './persistence/repository.js';
import { createOrm } from './persistence/orm.js';
import { createEventFeed } from './redis/event-feed.js';
import { connectRedis, duplicateRedis } from './redis/client.js';
import { createRedisLeaseSource } from './redis/lease-source.js';
import { createRedisAcceptedKeySource } from './redis/accepted-keys-source.js';
import { createRedisOrderStore } from './redis/order-store.js';
import { createRedisSaleStore } from './redis/sale-store.js';
import { createKeys } from './redis/keys.js';
import { isEntryPoint, runMain, type Closable } from './run-main.js';
import { createReplicationBarrier, noBarrier } from './redis/replication.js';
import { createRedisReservationStore } from './redis/reservation-store.js';
import { registerScripts, type ScriptName } from './redis/scripts.js';
import { createRedisQueueStore } from './redis/queue-store.js';
import { QueueWatch } from './queue/queue-watch.js';
import { TicketDesk } from './queue/ticket-desk.js';
import { TicketSigner } from './queue/ticket-signer.js';
import { parseNamedTokens } from './gate/tokens.js';
import { startTracing } from './tracing.js';

/** A running gate. */
export interface RunningGate {
  /** Base URL, e.g. http://127.0.0.1:8080 */
  readonly url: string;
  /** Base URL of the operations port (/metrics, /healthz, /readyz). */
  readonly opsUrl: string;
  /**
   * The order path under the RPC layer, as PlaceOrder calls it with a validated request
   * (`bench:grpc` drives it directly to measure what an order costs without a transport).
   */
  readonly placer: OrderPlacer;
  /** Stops accepting, finishes in-flight calls, flushes the publisher, closes clients. */
  close(): Promise<void>;
}

/** How long a sold-out or ended flag is trusted before Redis is asked again. */
const saleFlagTtlMs = 1000;
/** Most outbox entries one relay pass re-publishes. */
const relayBatchSize = 500;
/** How long the database's circuit stays open before a call probes it. */
const databaseProbeAfterMs = 1000;
/** How long a buyer of a sale being reloaded is asked to wait. */
const lostSaleRetryAfterMs = 1000;

/**
 * UUIDv7 order ids (time-ordered, so PostgreSQL's index grows at its end) whose random bits come
 * from a pool filled 256 ids at a time: uuid's own v7() asks the OS for 16 bytes per id, 4.6 µs
 * against 1 µs here.
 */
export function createOrderIds(): () => string {
  const pool = new Uint8Array(16 * 256);
  let at = pool.length;
  return () => {
    if (at === pool.length) {
      getRandomValues(pool);
      at = 0;
    }
    const random = pool.subarray(at, at + 16);
    at += 16;
    return uuidv7({ random });
  };
}

/** The gate's logger; `fields` go on every line (which process wrote it, under a primary). */
function gateLogger(config: Config, fields: Record<string, string | number> = {}): Logger {
  return pino({ level: config.logLevel, base: { service: 'gate', ...fields } });
}

/** Starts a gate with `config`, logging to `logger`; resolves once it listens. */
export async function startGate(
  config: Config,
  logger: Logger = gateLogger(config),
): Promise<RunningGate> {
  const gate = await launchGate(config, logger, {}, (registry, readiness) =>
    startOpsServer(registry, readiness, config.opsHost, config.gateOpsPort),
  );
  return { url: gate.url, opsUrl: gate.ops.url, placer: gate.placer, close: () => gate.close() };
}

/**
 * Starts one gate process under a cluster primary: its log lines and metric series say which
 * process it is (`gateProcess` and its pid, `gate_process`), and the primary serves its
 * operations pages.
 */
async function startGateProcess(config: Config, member: ClusterMember): Promise<Closable> {
  const id = String(member.id);
  const logger = gateLogger(config, { gateProcess: id, pid: process.pid });
  return launchGate(config, logger, { gate_process: id }, (registry, readiness) =>
    Promise.resolve(member.serveOps(registry, readiness)),
  );
}

/**
 * The process `node dist/src/main-gate.js` runs: one gate, or with FLUXGATE_GATE_PROCESSES
 * above 1 the cluster primary (in the process it forks, one gate of those).
 */
async function startGateOrPrimary(config: Config): Promise<Closable> {
  if (config.gateProcesses === 1) return startGate(config);
  const member = clusterMember();
  if (member !== undefined) return startGateProcess(config, member);
  const logger = gateLogger(config, { gateProcess: 'primary', pid: process.pid });
  // Without configured ticket keys the processes of one primary still share one.
  const env =
    config.queueTicketKeys.length === 0
      ? { [ticketKeysEnv]: `local:${randomBytes(32).toString('base64url')}` }
      : undefined;
  if (env !== undefined) warnLocalTicketKey(logger);
  return startPrimary({
    processes: config.gateProcesses,
    logger,
    opsHost: config.opsHost,
    opsPort: config.gateOpsPort,
    ...(env === undefined ? {} : { env }),
  });
}

/** Env name of the waiting-room ticket keys (config.ts reads it). */
const ticketKeysEnv = 'FLUXGATE_QUEUE_TICKET_KEYS';

function warnLocalTicketKey(logger: Logger): void {
  logger.warn(
    `${ticketKeysEnv} is not set: waiting-room tickets are signed with a random key and hold only at this gate (set the same keys at every gate)`,
  );
}

/** The signer of waiting-room tickets: the configured keys, or a random one of this process. */
function ticketSignerOf(config: Config, logger: Logger): TicketSigner {
  const keys = parseNamedTokens(config.queueTicketKeys).map(({ name, token }) => ({
    id: name,
    secret: token,
  }));
  if (keys.length > 0) return new TicketSigner(keys);
  warnLocalTicketKey(logger);
  return new TicketSigner([{ id: 'local', secret: randomBytes(32).toString('base64url') }]);
}

/** How a gate serves its operations pages: its own port, or through its cluster primary. */
type ServeOps<O extends Closable> = (registry: Registry, readiness: Readiness) => Promise<O>;

/** The gate itself: `labels` on every metric series, its operations pages served by `serveOps`. */
async function launchGate<O extends Closable & { readonly url?: string }>(
  config: Config,
  logger: Logger,
  labels: Record<string, string>,
  serveOps: ServeOps<O>,
): Promise<{
  readonly url: string;
  readonly ops: O;
  readonly placer: OrderPlacer;
  close(): Promise<void>;
}> {
  // First: a JWKS file that cannot be read stops the gate before it connects to anything.
  const buyerAuth = createBuyerAuth(config, logger);
  const tracing = await startTracing(config, 'fluxgate-gate');
  const startup = { logger, timeoutSeconds: config.startupTimeoutSeconds };
  // No offline queue and a command timeout: while Redis is unreachable or hung a command fails
  // at once or within the budget, and the breaker below turns that into a quick refusal.
  const redis = connectRedis(config, {
    enableAutoPipelining: true,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    commandTimeout: config.redisCommandTimeoutMs,
  });
  redis.on('error', (error: Error) => {
    logger.debug({ err: error }, 'redis connection');
  });
  registerScripts(redis);
  await retryStartup(
    'redis',
    async () => {
      if (redis.status !== 'ready') await once(redis, 'ready');
      await redis.ping();
    },
    startup,
  );
  const keys = createKeys(config.redisKeyPrefix);
  const kafkaOptions = {
    // Shared by every gate process, on this machine or another: a client id only names clients
    // in the broker's logs and quotas. An idempotent producer is told apart by the producer id
    // the broker gives it on each connect; the gate uses no transactional id.
    clientId: 'fluxgate-gate',
    brokers: config.kafkaBrokers,
    logLevel: logLevel.WARN,
    logCreator: kafkaLogCreator(logger),
  };
  const topics = createTopics(config.topicPrefix);

  // Kept connected: the admin API asks it for the worker's lag before reloading a sale, and
  // for the console's figures.
  const kafkaAdmin = new Kafka(kafkaOptions).admin();
  await retryStartup(
    'kafka',
    async () => {
      await kafkaAdmin.connect();
      await ensureTopics(kafkaAdmin, topics, config.orderTopicPartitions, logger);
    },
    startup,
  );
  const orm = await retryStartup(
    'postgresql',
    () => createOrm(config.databaseUrl, config.databaseSchema),
    startup,
  );
  const unguardedDatabase = createRepository(orm.em);
  const idempotencyTtlMs = config.idempotencyTtlSeconds * 1000;
  const soldOut = new SaleFlags(saleFlagTtlMs);
  const ended = new SaleFlags(saleFlagTtlMs);
  const overload = new OverloadGuard({
    maxInFlight: config.maxOrdersInFlight,
    maxEventLoopDelayMs: config.maxEventLoopDelayMs,
  });
  const stopWatchingLoop = watchEventLoop(overload, config.maxEventLoopDelayMs);
  const metrics = createGateMetrics(
    {
      outbox: () => readOutboxStats(redis, keys),
      soldOutFlags: () => soldOut.count(),
      overload: () => overload.state(),
      admission: () => {
        const counts = admission.counts();
        return { ...counts, refused: { ...counts.refused, ...acceptedKeys.refusals() } };
      },
      tickets: () => tickets.counts(),
    },
    labels,
  );
  const readiness = startReadiness([
    { name: 'redis', check: () => redis.ping() },
    { name: 'kafka', check: () => probeBroker(kafkaAdmin, topics.orders) },
  ]);
  const log = (error: unknown, context: string) => {
    logger.warn({ err: error }, context);
  };
  const breakerFor = (
    dependency: 'redis' | 'kafka' | 'postgresql',
    failures: number,
    probeAfterMs: number,
  ) =>
    createBreaker({
      dependency,
      failures,
      probeAfterMs,
      onChange: (open) => {
        metrics.circuitOpen.set({ dependency }, open ? 1 : 0);
        if (open)
          logger.warn({ dependency }, 'circuit open: refusing at once until a probe succeeds');
        else logger.info({ dependency }, 'circuit closed');
      },
    });
  // A few consecutive failures: one slow script is not an outage.
  const redisBreaker = breakerFor('redis', 3, config.redisProbeAfterMs);
  // One failed produce request: it already spent kafkajs's own retries.
  const kafkaBreaker = breakerFor('kafka', 1, config.kafkaProbeAfterMs);
  const redisReads = { dependency: 'redis', outcome: 'none' } as const;
  const redisWrites = { dependency: 'redis', outcome: 'unknown', unsent: redisUnsent } as const;
  // Lease calls fail as the reservation would: the sale goes back to the script meanwhile.
  // Every Lua script call, timed for the latency histogram.
  const timeScript = (script: ScriptName, seconds: number) => {
    metrics.scriptTimer(script).observe(seconds);
  };
  const queueStore = guarded(
    createRedisQueueStore(redis, keys, config.queueTurnMs, timeScript),
    redisBreaker,
    redisWrites,
  );
  const tickets = new TicketDesk(queueStore, ticketSignerOf(config, logger), {
    maxBlock: config.queueBlockMax,
    blockMaxAgeMs: config.queueBlockMaxAgeMs,
  });
  const queueWatch = new QueueWatch(queueStore, tickets, {
    pollMs: config.queuePollMs,
    onError: (error, sku) => {
      logger.warn({ err: error, sku }, 'waiting-room poll failed');
    },
  });
  const admission = new EdgeAdmission(
    guarded(createRedisLeaseSource(redis, keys, timeScript), redisBreaker, redisReads),
    {
      leaseMs: config.admissionLeaseMs,
      onError: (error, sku) => {
        logger.warn({ err: error, sku }, 'admission lease call failed');
      },
      onGrant: (sku, grant) => {
        tickets.observe(sku, grant.nowServing, grant.rate);
      },
    },
  );
  const acceptedKeys = new AcceptedKeys(
    guarded(createRedisAcceptedKeySource(redis, keys), redisBreaker, redisReads),
    (error, sku) => {
      logger.warn(
        { err: error, sku },
        'a closed sale’s accepted keys: loading or reporting failed',
      );
    },
  );
  const orderStore = guarded(
    createRedisOrderStore(redis, keys, idempotencyTtlMs),
    redisBreaker,
    redisReads,
  );
  // The database serves the admin calls, GetOrder's fallback and the lost-sale check.
  const database = guarded(
    unguardedDatabase,
    breakerFor('postgresql', 3, databaseProbeAfterMs),
    { dependency: 'postgresql', outcome: 'unknown', unsent: (e) => /ECONNREFUSED/.test(e.message) },
    ['getSale', 'listSales', 'orderTotals', 'reloadSnapshot', 'findOrder'],
  );
  // The subscriber's commands wait in its offline queue while it reconnects.
  const subscriber = duplicateRedis(redis, { enableOfflineQueue: true });
  subscriber.on('error', (error: Error) => {
    logger.debug({ err: error }, 'redis subscriber connection');
  });
  const feed = await createEventFeed(
    subscriber,
    keys,
    (error) => {
      log(error, 'event feed');
    },
    // A subscription that timed out at start-up is retried like any other start-up step.
    (step) => retryStartup('redis subscriber', step, startup),
  );
  /** What a gate knows of a sale besides Redis, dropped whenever the sale changes. */
  const forgetSale = (sku: string) => {
    soldOut.clear(sku);
    ended.clear(sku);
    acceptedKeys.forget(sku);
    admission.forget(sku);
    tickets.forget(sku);
    queueWatch.wake(sku);
  };
  feed.onSaleChanged(forgetSale);

  // Few, quick retries: a publish must settle well within a client's deadline.
  const kafka = new Kafka({
    ...kafkaOptions,
    retry: { retries: 2, initialRetryTime: 100, maxRetryTime: 1000 },
  });
  const publisher = createKafkaPublisher({
    connectProducer: async () => {
      const producer = kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        createPartitioner: Partitioners.DefaultPartitioner,
      });
      await producer.connect();
      return producer;
    },
    topic: topics.orders,
    lingerMs: config.publishLingerMs,
    maxBatch: config.publishMaxBatch,
    timeoutMs: config.publishTimeoutMs,
    breaker: kafkaBreaker,
    onError: (error, outcome) => {
      log(error, `publish ${outcome}`);
    },
    onSent: (size, seconds, outcome) => {
      metrics.publishBatchSize.observe(size);
      metrics.publishSeconds.observe({ outcome }, seconds);
    },
  });
  // Its own connection: a WAIT holds up every command sent after it on the same one.
  const barrierConnection = config.redisWaitReplicas > 0 ? duplicateRedis(redis) : undefined;
  const barrier = barrierConnection
    ? createReplicationBarrier(
        barrierConnection,
        keys,
        config.redisWaitReplicas,
        config.redisWaitTimeoutMs,
      )
    : noBarrier;
  const store = guarded(
    createRedisReservationStore(
      redis,
      keys,
      {
        idempotencyTtlMs,
        customerRate: config.customerRate,
        customerBurst: config.customerBurst,
        outboxMaxEntries: config.outboxMaxEntries,
        outboxMaxAgeMs: config.outboxMaxAgeMs,
        queueTurnMs: config.queueTurnMs,
      },
      timeScript,
      barrier,
    ),
    redisBreaker,
    redisWrites,
  );
  const admin = createAdmin({
    db: database,
    live: guarded(
      announcingLocally(createRedisSaleStore(redis, keys), forgetSale),
      redisBreaker,
      redisWrites,
      ['read', 'counters', 'snapshot', 'outbox'],
    ),
    unrecordedOrders: () => consumerLag(kafkaAdmin, config.workerGroupId, topics.orders),
    now: Date.now,
  });
  const readFigures = createFigureReader(
    {
      stats: (sku) => admin.stats(sku),
      stock: (sku) => admin.stock(sku),
      queue: async (sku) => {
        const read = await queueStore.read(sku);
        return read && { waiting: read.queue.issued - read.queue.serving, rate: read.queue.rate };
      },
      outboxDepth: (sku) => outboxDepth(redis, keys, sku),
      consumerLag: () => consumerLag(kafkaAdmin, config.workerGroupId, topics.orders),
      now: Date.now,
    },
    config.saleWatchPollMs,
  );
  const saleWatch = new SaleWatch(
    (sku) => {
      metrics.saleWatchReads.inc();
      return readFigures(sku);
    },
    {
      pollMs: config.saleWatchPollMs,
      onError: (error, sku) => {
        logger.warn({ err: error, sku }, 'sale figures read failed');
      },
    },
  );
  const placer = createOrderPlacer({
    store,
    publisher,
    recorder: orderStore,
    soldOut,
    ended,
    acceptedKeys,
    admission,
    tickets,
    deciding: overload,
    lostSales: createSaleRecovery({
      listSkus: async () => (await database.listSales()).map((sale) => sale.sku),
      reload: (sku) => admin.reloadLost(sku),
      lock: (sku, ms) => takeLock(redis, keys.reloadLock(sku), ms),
      onReload: (sku, outcome, error) => {
        metrics.saleReloads.inc({ outcome });
        if (outcome === 'failed') logger.warn({ err: error, sku }, 'reload of a lost sale failed');
        else logger.warn({ sku, outcome }, 'the live store had lost the sale: reload');
      },
      retryAfterMs: lostSaleRetryAfterMs,
      now: Date.now,
    }),
    newOrderId: createOrderIds(),
    now: Date.now,
    completionLingerMs: config.completionLingerMs,
    onBackgroundError: log,
  });

  const placeOrder = OrderGateService.method.placeOrder;
  const overloadAnswer = cachedShedAnswers(() =>
    refusalToConnectError(
      new Refusal('GATE_OVERLOADED', 'the gate is overloaded; retry with the same key'),
      Date.now(),
    ),
  );
  const shedding: Shedding = {
    paths: new Set([requestPath(placeOrder)]),
    refusal(contentType) {
      if (overload.admits()) return undefined;
      const answer = overloadAnswer(contentType);
      if (answer !== undefined) {
        metrics.requestCounter('OrderGateService.PlaceOrder', 'GATE_OVERLOADED').inc();
      }
      return answer;
    },
  };

  const app = await buildServer({
    config,
    logger,
    shedding,
    // Tracing, then metrics outermost: they see the wire error the error interceptor made of a
    // refusal, including the admin guard's. Without tracing no interceptor reads a traceparent.
    interceptors: [
      ...(tracing.enabled ? [tracingInterceptor()] : []),
      metricsInterceptor(metrics),
      errorInterceptor(Date.now),
      createAdminAuth(adminTokensOf(config), logger),
      buyerAuth,
    ],
    onMalformedRequest: (protocol) => {
      metrics.malformedRequestCounter(protocol).inc();
    },
    staticRoot:
      config.storefrontDir !== '' && existsSync(config.storefrontDir)
        ? resolve(config.storefrontDir)
        : undefined,
    routes: gateRoutes({
      config,
      placer,
      orders: createOrderLookup(orderStore, { get: (orderId) => database.findOrder(orderId) }),
      admin,
      saleWatch,
      onOrderStatus: (orderId, listener) => feed.onOrderStatus(orderId, listener),
      onSaleChanged: (listener) => feed.onSaleChanged(listener),
      tickets,
      queueWatch,
      queue: queueStore,
      readiness,
      logger,
    }),
  });

  const relay = startOutboxRelay({
    store,
    publisher,
    graceMs: config.outboxGraceMs,
    batchSize: relayBatchSize,
    intervalMs: config.outboxRelayIntervalMs,
    onRelayed: (n) => {
      metrics.outboxRelayed.inc(n);
      if (n > 0) logger.info({ relayed: n }, 'outbox relay re-published orders');
    },
    onError: (error) => {
      log(error, 'outbox relay');
    },
  });

  const address = await app.listen({ host: config.gateHost, port: config.gatePort });
  const ops = await serveOps(metrics.registry, readiness);
  logger.info(
    { url: address, ops: ops.url, traces: tracing.enabled ? config.otlpEndpoint : 'off' },
    'gate listening',
  );
  return {
    url: address,
    ops,
    placer,
    async close() {
      // Not ready first, so load balancers stop sending; then let in-flight calls finish.
      readiness.drain();
      await shutDown(
        [
          [
            'finish in-flight calls',
            async () => {
              stopWatchingLoop();
              await app.close();
            },
          ],
          // Everything answered is with the publisher: let answered orders' publishes and
          // completions end, relay what is due, flush, close.
          ['complete answered orders', () => placer.settled()],
          ['relay the outbox', () => relay.drain()],
          ['flush the producer', () => publisher.close()],
          ['close the operations port', () => ops.close()],
          [
            'close clients',
            async () => {
              feed.close();
              queueWatch.close();
              saleWatch.close();
              await kafkaAdmin.disconnect();
              await orm.close();
              barrierConnection?.disconnect();
              redis.disconnect();
            },
          ],
          ['export the last spans', () => tracing.close()],
        ],
        // In-flight calls have the grace period; every step gets as long, and one second more.
        config.shutdownGraceMs + 1000,
        logger,
      );
      logger.info('gate stopped');
    },
  };
}

/**
 * `live`, whose announcements reach this gate at once, before the answer to the admin call:
 * the pub/sub message reaches it too, but later on a Redis Cluster (published on one node,
 * relayed to the subscriber's over the cluster bus), and this gate's next answer must already
 * know the change it made.
 */
function announcingLocally(live: LiveSales, forget: (sku: string) => void): LiveSales {
  return {
    ...live,
    async announce(sku) {
      forget(sku);
      await live.announce(sku);
    },
  };
}

if (isEntryPoint(import.meta.url)) await runMain(startGateOrPrimary);
