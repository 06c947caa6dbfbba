/**
 * The gate process: builds the concrete clients, wires the ports, listens, relays the outbox,
 * and shuts down gracefully on SIGTERM / SIGINT (a second signal forces exit).
 */
import { Kafka, Partitioners, logLevel } from 'kafkajs';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { v7 as uuidv7 } from 'uuid';
import { AdminService } from '../gen/fluxgate/v1/admin_pb.js';
import { InventoryService } from '../gen/fluxgate/v1/inventory_pb.js';
import { OrderGateService } from '../gen/fluxgate/v1/order_gate_pb.js';
import type { Config } from './config.js';
import { createAdmin } from './domain/admin.js';
import { createOrderLookup } from './domain/order-lookup.js';
import { relayOutboxOnce } from './domain/outbox-relay.js';
import { createOrderPlacer } from './domain/place-order.js';
import { SoldOutFlags } from './domain/sold-out-flags.js';
import { createAdminAuth } from './gate/admin-auth.js';
import { createAdminService } from './gate/admin-service.js';
import { buildServer } from './gate/build-server.js';
import { createInventoryService } from './gate/inventory-service.js';
import { createOrderGateService } from './gate/order-gate-service.js';
import { kafkaLogCreator } from './kafka/log.js';
import { createKafkaPublisher } from './kafka/publisher.js';
import { consumerLag, createTopics, ensureTopics } from './kafka/topics.js';
import { createRepository } from './persistence/repository.js';
import { createOrm } from './persistence/orm.js';
import { createEventFeed } from './redis/event-feed.js';
import { createRedisOrderStore } from './redis/order-store.js';
import { createRedisSaleStore } from './redis/sale-store.js';
import { createKeys } from './redis/keys.js';
import { isEntryPoint, runMain } from './run-main.js';
import { createRedisReservationStore } from './redis/reservation-store.js';
import { registerScripts } from './redis/scripts.js';

/** A running gate. */
export interface RunningGate {
  /** Base URL, e.g. http://127.0.0.1:8080 */
  readonly url: string;
  /** Stops accepting, finishes in-flight calls, flushes the publisher, closes clients. */
  close(): Promise<void>;
}

/** How long a sold-out flag is trusted before the counter is asked again. */
const soldOutFlagTtlMs = 1000;
/** Most outbox entries one relay pass re-publishes. */
const relayBatchSize = 500;

/** Starts a gate with `config`; resolves once it listens. */
export async function startGate(config: Config): Promise<RunningGate> {
  const redis = new Redis(config.redisUrl, { enableAutoPipelining: true, maxRetriesPerRequest: 1 });
  registerScripts(redis);
  const keys = createKeys(config.redisKeyPrefix);
  const logger = pino({ level: config.logLevel, base: { service: 'gate' } });
  const kafkaOptions = {
    clientId: 'fluxgate-gate',
    brokers: config.kafkaBrokers,
    logLevel: logLevel.WARN,
    logCreator: kafkaLogCreator(logger),
  };
  const topics = createTopics(config.topicPrefix);

  // Kept connected: the admin API asks it for the worker's lag before reloading a sale.
  const kafkaAdmin = new Kafka(kafkaOptions).admin();
  await kafkaAdmin.connect();
  await ensureTopics(kafkaAdmin, topics);
  const orm = await createOrm(config.databaseUrl, config.databaseSchema);
  const database = createRepository(orm.em);
  const idempotencyTtlMs = config.idempotencyTtlSeconds * 1000;
  const orderStore = createRedisOrderStore(redis, keys, idempotencyTtlMs);
  const soldOut = new SoldOutFlags(soldOutFlagTtlMs);
  const log = (error: unknown, context: string) => {
    logger.warn({ err: error }, context);
  };
  const feed = await createEventFeed(redis.duplicate(), keys, (error) => {
    log(error, 'event feed');
  });
  feed.onSaleChanged((sku) => {
    soldOut.clear(sku);
  });

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
    onError: (error, outcome) => {
      log(error, `publish ${outcome}`);
    },
  });
  const store = createRedisReservationStore(redis, keys, {
    idempotencyTtlMs,
    customerRate: config.customerRate,
    customerBurst: config.customerBurst,
  });
  const placer = createOrderPlacer({
    store,
    publisher,
    recorder: orderStore,
    soldOut,
    newOrderId: () => uuidv7(),
    now: Date.now,
    onBackgroundError: log,
  });

  const admin = createAdmin({
    db: database,
    live: createRedisSaleStore(redis, keys),
    unrecordedOrders: () => consumerLag(kafkaAdmin, config.workerGroupId, topics.orders),
    now: Date.now,
  });

  const app = await buildServer({
    config,
    logger,
    routes: (router) => {
      router.service(
        OrderGateService,
        createOrderGateService({
          placer,
          orders: createOrderLookup(orderStore, { get: (orderId) => database.findOrder(orderId) }),
          onOrderStatus: (orderId, listener) => feed.onOrderStatus(orderId, listener),
          maxQuantity: config.maxQuantity,
          now: Date.now,
        }),
      );
      router.service(
        InventoryService,
        createInventoryService({
          stock: (sku) => admin.stock(sku),
          onSaleChanged: (listener) => feed.onSaleChanged(listener),
          now: Date.now,
        }),
      );
      router.service(AdminService, createAdminService(admin, Date.now), {
        interceptors: [createAdminAuth(config.adminToken)],
      });
    },
  });

  let relaying = false;
  const relay = setInterval(() => {
    if (relaying) return;
    relaying = true;
    relayOutboxOnce({ store, publisher, graceMs: config.outboxGraceMs, batchSize: relayBatchSize })
      .then((n) => {
        if (n > 0) logger.info({ relayed: n }, 'outbox relay re-published orders');
      })
      .catch((error: unknown) => {
        log(error, 'outbox relay');
      })
      .finally(() => {
        relaying = false;
      });
  }, config.outboxRelayIntervalMs);

  const address = await app.listen({ host: config.gateHost, port: config.gatePort });
  return {
    url: address,
    async close() {
      clearInterval(relay);
      await app.close();
      await publisher.close();
      feed.close();
      await kafkaAdmin.disconnect();
      await orm.close();
      redis.disconnect();
    },
  };
}

if (isEntryPoint(import.meta.url)) await runMain(startGate);
