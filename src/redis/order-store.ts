/**
 * Live order status in Redis: the gate records an order when it reserves it (so GetOrder knows
 * it at once, by id alone), the worker records the final status after its transaction
 * commits. Entries live as long as idempotency entries; older orders are read from PostgreSQL.
 */
import type { Redis } from 'ioredis';
import type { AcceptedOrder } from '../domain/order.js';
import type { OrderStatusName, OrderView, RejectReasonName } from '../domain/order-view.js';
import type { Keys } from './keys.js';

/** The Redis order-status store. */
export interface RedisOrderStore {
  /** Records a just-reserved order as PENDING. */
  remember(order: AcceptedOrder): Promise<void>;
  /** Drops the record of an order that did not happen. */
  forget(orderId: string): Promise<void>;
  /** Records final statuses (the order's own fields are kept). */
  finalize(views: readonly OrderView[]): Promise<void>;
  /** The order's view, or undefined when Redis does not know it (any more). */
  get(orderId: string): Promise<OrderView | undefined>;
}

/** Creates the store; entries expire after `ttlMs`. */
export function createRedisOrderStore(redis: Redis, keys: Keys, ttlMs: number): RedisOrderStore {
  return {
    async remember(order) {
      const key = keys.order(order.orderId);
      // Only the order itself: a missing status reads as PENDING, so this can never overwrite a
      // final status the worker may already have written, and needs no transaction.
      await Promise.all([
        redis.hset(key, 'order', JSON.stringify(order)),
        redis.pexpire(key, ttlMs),
      ]);
    },
    async forget(orderId) {
      await redis.del(keys.order(orderId));
    },
    async finalize(views) {
      if (views.length === 0) return;
      const pipeline = redis.pipeline();
      for (const v of views) {
        const key = keys.order(v.order.orderId);
        pipeline.hset(key, {
          order: JSON.stringify(v.order),
          status: v.status,
          reject_reason: v.rejectReason ?? '',
          finalized_at_ms: v.finalizedAtMs ?? '',
        });
        pipeline.pexpire(key, ttlMs);
      }
      const results = (await pipeline.exec()) ?? [];
      const failed = results.find(([error]) => error !== null);
      if (failed) throw failed[0] as Error;
    },
    async get(orderId) {
      const fields = await redis.hgetall(keys.order(orderId));
      if (fields.order === undefined) return undefined;
      return {
        order: JSON.parse(fields.order) as AcceptedOrder,
        status: (fields.status ?? 'PENDING') as OrderStatusName,
        rejectReason: fields.reject_reason ? (fields.reject_reason as RejectReasonName) : null,
        finalizedAtMs: fields.finalized_at_ms ? Number(fields.finalized_at_ms) : null,
      };
    },
  };
}
