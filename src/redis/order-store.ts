/**
 * Live order status in Redis: the gate records an order when it reserves it (so GetOrder knows
 * it at once, by id alone), the worker records the final status after its transaction
 * commits. Entries live as long as idempotency entries; older orders are read from PostgreSQL.
 */
import type { RedisClient } from './client.js';
import type { AcceptedOrder } from '../domain/order.js';
import type { OrderView } from '../domain/order-view.js';
import type { Keys } from './keys.js';
import { orderViewFromJson, orderViewToJson } from './order-codec.js';

/** The Redis order-status store. */
export interface RedisOrderStore {
  /** Records a just-reserved order as PENDING. */
  remember(order: AcceptedOrder): Promise<void>;
  /** Records final statuses (the order's own fields are kept). */
  finalize(views: readonly OrderView[]): Promise<void>;
  /** The order's view, or undefined when Redis does not know it (any more). */
  get(orderId: string): Promise<OrderView | undefined>;
}

/** Creates the store; entries expire after `ttlMs`. */
export function createRedisOrderStore(
  redis: RedisClient,
  keys: Keys,
  ttlMs: number,
): RedisOrderStore {
  return {
    async remember(order) {
      // NX: the worker may already have written the final status; never overwrite it.
      const view: OrderView = { order, status: 'PENDING', rejectReason: null, finalizedAtMs: null };
      await redis.set(keys.order(order.orderId), orderViewToJson(view), 'PX', ttlMs, 'NX');
    },
    async finalize(views) {
      if (views.length === 0) return;
      // One command per order, sent together: the orders' keys lie in different cluster slots,
      // which one pipeline may not span.
      await Promise.all(
        views.map((v) => redis.set(keys.order(v.order.orderId), orderViewToJson(v), 'PX', ttlMs)),
      );
    },
    async get(orderId) {
      const json = await redis.get(keys.order(orderId));
      return json === null ? undefined : orderViewFromJson(json);
    },
  };
}
