/**
 * The worker's notifications through Redis: final statuses in the live order records and, as
 * OrderStatusChanged events, on the pub/sub channel the gates' WatchOrder streams listen to;
 * and the dead-letter counter. Writing a final view again is harmless, so a redelivered batch
 * can simply notify again.
 */
import type { RedisClient } from './client.js';
import { statusChangeOf, type WorkerNotifier } from '../domain/order-events.js';
import { skuPattern } from '../domain/order.js';
import { encodeOrderStatusChanged } from '../kafka/codec.js';
import type { Keys } from './keys.js';
import { createRedisOrderStore } from './order-store.js';

/** Creates the notifier on `redis`; order records live `orderTtlMs`. */
export function createRedisWorkerNotifier(
  redis: RedisClient,
  keys: Keys,
  orderTtlMs: number,
): WorkerNotifier {
  const orders = createRedisOrderStore(redis, keys, orderTtlMs);
  return {
    async statusChanged(views) {
      if (views.length === 0) return;
      // The record first: a watcher woken by the event reads the final status.
      await orders.finalize(views);
      await Promise.all(
        views.map((view) =>
          redis.publish(
            keys.orderStatusChannel,
            Buffer.from(encodeOrderStatusChanged(statusChangeOf(view))),
          ),
        ),
      );
    },
    async deadLettered(sku) {
      if (sku !== undefined && skuPattern.test(sku))
        await redis.hincrby(keys.stats(sku), 'dead_lettered', 1);
    },
  };
}
