/**
 * A real worker and gate on one isolated config, as the integration and client tests use them:
 * the typed client with the admin token, plain gRPC clients of each service for calls that
 * choose their own headers, and a worker that can be stopped and started again.
 */
import { randomUUID } from 'node:crypto';
import { createClient, type Client } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import type { RedisClient } from '../../src/redis/client.js';
import { AdminService } from '../../gen/fluxgate/v1/admin_pb.js';
import { InventoryService } from '../../gen/fluxgate/v1/inventory_pb.js';
import { OrderGateService } from '../../gen/fluxgate/v1/order_gate_pb.js';
import { createFluxGateClient, type FluxGateClient } from '../../src/client/node.js';
import type { Config } from '../../src/config.js';
import type { Sale } from '../../src/domain/sale.js';
import { startGate, type RunningGate } from '../../src/main-gate.js';
import { startWorker, type RunningWorker } from '../../src/main-worker.js';
import type { Keys } from '../../src/redis/keys.js';
import { createTestSale, testSale } from './sales.js';
import { isolatedConfig, redisFor } from './stack.js';

/** The admin token of every gate the tests start, and the header that carries it. */
export const adminToken = 'test-admin-token-0123456789';
export const adminAuth = { headers: { authorization: `Bearer ${adminToken}` } };

/** A worker and a gate on one config, with clients of the gate's services. */
export interface System {
  readonly config: Config;
  readonly redis: RedisClient;
  readonly keys: Keys;
  readonly gate: RunningGate;
  /** The running worker; throws while it is stopped by {@link System.stopWorker}. */
  readonly worker: RunningWorker;
  /** The typed client, sending {@link adminToken} on admin calls. */
  readonly client: FluxGateClient;
  /** AdminService over gRPC without the token: each call passes {@link adminAuth} (or not). */
  readonly admin: Client<typeof AdminService>;
  /** OrderGateService over gRPC. */
  readonly orders: Client<typeof OrderGateService>;
  /** InventoryService over gRPC. */
  readonly inventory: Client<typeof InventoryService>;
  /** One order of `quantity` units for `customerId`, under a new idempotency key. */
  place(
    sku: string,
    customerId: string,
    quantity?: number,
  ): ReturnType<Client<typeof OrderGateService>['placeOrder']>;
  /** Creates {@link testSale}`(sku, overrides)` through AdminService. */
  createSale(sku: string, overrides?: Partial<Sale>): Promise<void>;
  /** Stops the worker (orders stay PENDING) until {@link System.startWorker}. */
  stopWorker(): Promise<void>;
  startWorker(): Promise<void>;
  close(): Promise<void>;
}

/** Starts a worker (which migrates the test schema first) and a gate with {@link adminToken}. */
export async function startSystem(overrides: Partial<Config> = {}): Promise<System> {
  const config = isolatedConfig({ adminToken, ...overrides });
  const { redis, keys } = redisFor(config);
  let worker: RunningWorker | undefined = await startWorker(config);
  const gate = await startGate(config);
  const client = createFluxGateClient({ baseUrl: gate.url, adminToken });
  const transport = createGrpcTransport({ baseUrl: gate.url });
  const orders = createClient(OrderGateService, transport);
  return {
    config,
    redis,
    keys,
    gate,
    get worker() {
      if (worker === undefined) throw new Error('the worker is stopped');
      return worker;
    },
    client,
    admin: createClient(AdminService, transport),
    orders,
    inventory: createClient(InventoryService, transport),
    place: (sku, customerId, quantity = 1) =>
      orders.placeOrder({ sku, quantity, customerId, idempotencyKey: randomUUID() }),
    async createSale(sku, saleOverrides) {
      await createTestSale(client.admin, testSale(sku, saleOverrides));
    },
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
