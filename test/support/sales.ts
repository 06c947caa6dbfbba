/**
 * The one test sale, and the two ways to open it: loaded straight into Redis (a gate serves it,
 * no database involved), or created through AdminService (recorded in PostgreSQL, then live).
 */
import type { CallOptions, Client } from '@connectrpc/connect';
import type { RedisClient } from '../../src/redis/client.js';
import type { AdminService, UpsertSaleResponse } from '../../gen/fluxgate/v1/admin_pb.js';
import type { Sale as SaleMessage } from '../../gen/fluxgate/v1/sale_pb.js';
import type { Sale } from '../../src/domain/sale.js';
import { saleToProto } from '../../src/gate/proto-mapping.js';
import type { Keys } from '../../src/redis/keys.js';
import { loadSale } from '../../src/redis/sale-store.js';
import type { ReservationStore } from '../../src/domain/ports.js';
import type { ReplicationBarrier } from '../../src/redis/replication.js';
import { createRedisReservationStore } from '../../src/redis/reservation-store.js';
import { registerScripts, type PlaceOrderSettings } from '../../src/redis/scripts.js';

/**
 * A sale of 100 units, open from a second ago for an hour, that nothing but its stock limits:
 * per-customer limit and admission at the largest values the admin API accepts. A test that is
 * about limits or admission sets them.
 */
export function testSale(sku: string, overrides: Partial<Sale> = {}): Sale {
  const now = Date.now();
  return {
    sku,
    name: `Sale ${sku}`,
    totalStock: 100,
    perCustomerLimit: 1_000_000,
    startsAtMs: now - 1000,
    endsAtMs: now + 3_600_000,
    admissionRate: 1_000_000,
    admissionBurst: 1_000_000,
    paused: false,
    preQueueLottery: false,
    ...overrides,
  };
}

/** Loads `sale` straight into Redis with its whole total stock available. */
export async function loadTestSale(redis: RedisClient, keys: Keys, sale: Sale): Promise<void> {
  await loadSale(redis, keys, sale, sale.totalStock);
}

/** The UpsertSale request that creates `sale`. */
export function upsertRequest(sale: Sale): { sale: SaleMessage } {
  return { sale: saleToProto(sale) };
}

/** Creates `sale` through AdminService; `options` carry the admin token if the client does not. */
export function createTestSale(
  admin: Client<typeof AdminService>,
  sale: Sale,
  options?: CallOptions,
): Promise<UpsertSaleResponse> {
  return admin.upsertSale(upsertRequest(sale), options);
}

/**
 * The real reservation store (the order path's Lua scripts) on `redis`, with buckets that never
 * refuse and a roomy outbox unless `settings` say otherwise; registers the scripts on the client.
 */
export function testReservationStore(
  redis: RedisClient,
  keys: Keys,
  settings: Partial<PlaceOrderSettings> = {},
  barrier?: ReplicationBarrier,
): ReservationStore {
  registerScripts(redis);
  return createRedisReservationStore(
    redis,
    keys,
    {
      idempotencyTtlMs: 60_000,
      customerRate: 1_000_000,
      customerBurst: 1_000_000,
      outboxMaxEntries: 1000,
      outboxMaxAgeMs: 600_000,
      queueTurnMs: 30_000,
      ...settings,
    },
    undefined,
    barrier,
  );
}
