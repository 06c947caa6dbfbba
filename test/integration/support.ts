/**
 * Shared set-up for integration tests against the real local stack: a config isolated by a
 * unique Redis key prefix and Kafka topic prefix, and helpers to load sales.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { ConnectError, createClient, type Client } from '@connectrpc/connect';
import { createConnectTransport, createGrpcTransport } from '@connectrpc/connect-node';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { Kafka, logLevel, type KafkaMessage } from 'kafkajs';
import { AdminService, type UpsertSaleRequest } from '../../gen/fluxgate/v1/admin_pb.js';
import { InventoryService } from '../../gen/fluxgate/v1/inventory_pb.js';
import { OrderGateService } from '../../gen/fluxgate/v1/order_gate_pb.js';
import type { Sale as SaleMessage } from '../../gen/fluxgate/v1/sale_pb.js';
import { ErrorInfoSchema } from '../../gen/google/rpc/error_details_pb.js';
import { loadConfig, type Config } from '../../src/config.js';
import { startGate, type RunningGate } from '../../src/main-gate.js';
import { startWorker, type RunningWorker } from '../../src/main-worker.js';
import type { Sale } from '../../src/domain/sale.js';
import { createKeys, type Keys } from '../../src/redis/keys.js';
import { loadSale } from '../../src/redis/sale-store.js';

/** A config for one test file: unique prefixes, an ephemeral port, quiet logs. */
export function isolatedConfig(overrides: Partial<Config> = {}): Config {
  const id = randomBytes(4).toString('hex');
  return loadConfig(process.env, {
    redisKeyPrefix: `t${id}`,
    topicPrefix: `t${id}.`,
    databaseSchema: `t${id}`,
    workerGroupId: `t${id}-worker`,
    gatePort: 0,
    gateOpsPort: 0,
    workerOpsPort: 0,
    logLevel: 'silent',
    shutdownGraceMs: 1000,
    ...overrides,
  });
}

/** A Redis client and the key builder for `config`. */
export function redisFor(config: Config): { redis: Redis; keys: Keys } {
  return { redis: new Redis(config.redisUrl), keys: createKeys(config.redisKeyPrefix) };
}

/** A sale open now for an hour, with generous admission unless overridden. */
export function openSale(sku: string, overrides: Partial<Sale> = {}): Sale {
  const now = Date.now();
  return {
    sku,
    name: `Test ${sku}`,
    totalStock: 100,
    perCustomerLimit: 1_000_000,
    startsAtMs: now - 1000,
    endsAtMs: now + 3_600_000,
    admissionRate: 1_000_000,
    admissionBurst: 1_000_000,
    paused: false,
    ...overrides,
  };
}

/** Loads `sale` with its whole total stock available. */
export async function loadOpenSale(redis: Redis, keys: Keys, sale: Sale): Promise<void> {
  await loadSale(redis, keys, sale, sale.totalStock);
}

/** Polls `probe` every 100 ms until it returns true; fails after `timeoutMs`. */
export async function eventually(
  probe: () => Promise<boolean>,
  timeoutMs = 30_000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Reads every record of `topic` from the beginning until `enough` says stop (or time runs out). */
export async function readTopic(
  config: Config,
  topic: string,
  enough: (records: KafkaMessage[]) => boolean,
  timeoutMs = 30_000,
): Promise<KafkaMessage[]> {
  const kafka = new Kafka({ brokers: config.kafkaBrokers, logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: `reader-${randomBytes(4).toString('hex')}` });
  const records: KafkaMessage[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        records.push(message);
      },
    });
    await eventually(async () => enough(records), timeoutMs, `records on ${topic}`);
  } finally {
    await consumer.disconnect();
  }
  return records;
}

/** Every key under the config's prefix with its serialized value: a snapshot to compare. */
export async function redisSnapshot(redis: Redis, prefix: string): Promise<Map<string, string>> {
  const snapshot = new Map<string, string>();
  for (const key of (await redis.keys(`${prefix}:*`)).sort()) {
    // null when the key expired between KEYS and DUMP (ioredis types it as always present).
    const dump = (await redis.dumpBuffer(key)) as Buffer | null;
    snapshot.set(key, dump?.toString('hex') ?? '');
  }
  return snapshot;
}

/** The refusal's ErrorInfo reason, or undefined when `error` is not a refusal. */
export function reasonOf(error: unknown): string | undefined {
  return error instanceof ConnectError ? error.findDetails(ErrorInfoSchema)[0]?.reason : undefined;
}

/** An OrderGateService client over Connect binary on HTTP/1.1, sharing `agent`'s connections. */
export function orderClient(url: string, agent: http.Agent): Client<typeof OrderGateService> {
  return createClient(
    OrderGateService,
    createConnectTransport({
      baseUrl: url,
      httpVersion: '1.1',
      useBinaryFormat: true,
      nodeOptions: { agent },
    }),
  );
}

/** The admin token of {@link startLiveSale}'s gate, and the header that carries it. */
export const adminToken = 'test-admin-token-0123456789';
export const adminAuth = { headers: { authorization: `Bearer ${adminToken}` } };

/** An UpsertSale request for a sale open now for an hour (5 per customer, generous admission). */
export function upsertRequest(
  sku: string,
  totalStock: number,
  extra: Partial<SaleMessage> = {},
): Partial<UpsertSaleRequest> {
  return {
    sale: {
      $typeName: 'fluxgate.v1.Sale',
      sku,
      name: `Sale ${sku}`,
      totalStock: BigInt(totalStock),
      perCustomerLimit: 5,
      startsAt: timestampFromMs(Date.now() - 1000),
      endsAt: timestampFromMs(Date.now() + 3_600_000),
      admissionRate: 10_000,
      admissionBurst: 10_000,
      paused: false,
      ...extra,
    },
  };
}

/** A worker and a gate on one config, with gRPC clients of the gate's services. */
export interface LiveSale {
  readonly config: Config;
  readonly redis: Redis;
  readonly keys: Keys;
  readonly gate: RunningGate;
  readonly admin: Client<typeof AdminService>;
  readonly orders: Client<typeof OrderGateService>;
  readonly inventory: Client<typeof InventoryService>;
  /** One order of `quantity` units for `customerId`, under a new idempotency key. */
  place(
    sku: string,
    customerId: string,
    quantity?: number,
  ): ReturnType<Client<typeof OrderGateService>['placeOrder']>;
  /** Stops the worker (orders stay PENDING) until {@link LiveSale.startWorker}. */
  stopWorker(): Promise<void>;
  startWorker(): Promise<void>;
  close(): Promise<void>;
}

/** Starts a worker (which migrates the test schema first) and a gate with {@link adminToken}. */
export async function startLiveSale(): Promise<LiveSale> {
  const config = isolatedConfig({ adminToken });
  const { redis, keys } = redisFor(config);
  let worker: RunningWorker | undefined = await startWorker(config);
  const gate = await startGate(config);
  const transport = createGrpcTransport({ baseUrl: gate.url });
  const orders = createClient(OrderGateService, transport);
  return {
    config,
    redis,
    keys,
    gate,
    admin: createClient(AdminService, transport),
    orders,
    inventory: createClient(InventoryService, transport),
    place: (sku, customerId, quantity = 1) =>
      orders.placeOrder({ sku, quantity, customerId, idempotencyKey: randomUUID() }),
    async stopWorker() {
      await worker?.close();
      worker = undefined;
    },
    async startWorker() {
      worker ??= await startWorker(config);
    },
    async close() {
      await gate.close();
      await worker?.close();
      redis.disconnect();
    },
  };
}
