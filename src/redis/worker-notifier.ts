/**
 * The worker's notifications through Redis: final statuses in the live order records and on
 * the pub/sub channel the gates' WatchOrder streams listen to, and the dead-letter counter.
 */
import type { Redis } from 'ioredis';
import { skuPattern } from '../domain/order.js';
import type { WorkerNotifier } from '../worker/consume.js';
import type { Keys } from './keys.js';
import { createRedisOrderStore } from './order-store.js';

/** Creates the notifier on `redis`; order records live `orderTtlMs`. */
export function createRedisWorkerNotifier(
  redis: Redis,
  keys: Keys,
  orderTtlMs: number,
): WorkerNotifier {
  const orders = createRedisOrderStore(redis, keys, orderTtlMs);
  return {
    async statusChanged(changes) {
      // The record first: a watcher woken by the event reads the final status.
      await orders.finalize(changes.map((c) => c.view));
      const pipeline = redis.pipeline();
      for (const c of changes) pipeline.publish(keys.orderStatusChannel, Buffer.from(c.payload));
      await pipeline.exec();
    },
    async deadLettered(sku) {
      if (sku !== undefined && skuPattern.test(sku))
        await redis.hincrby(keys.stats(sku), 'dead_lettered', 1);
    },
  };
}
