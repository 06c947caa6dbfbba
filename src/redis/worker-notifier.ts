/**
 * The worker's notifications through Redis: status changes on the pub/sub channel the gates'
 * WatchOrder streams listen to, and the dead-letter counter of the sale's statistics.
 */
import type { Redis } from 'ioredis';
import type { WorkerNotifier } from '../worker/consume.js';
import type { Keys } from './keys.js';

/** Creates the notifier on `redis`. */
export function createRedisWorkerNotifier(redis: Redis, keys: Keys): WorkerNotifier {
  return {
    async statusChanged(changes) {
      const pipeline = redis.pipeline();
      for (const c of changes) pipeline.publish(keys.orderStatusChannel, Buffer.from(c.payload));
      await pipeline.exec();
    },
    async deadLettered(sku) {
      if (sku !== undefined && /^[A-Za-z0-9._-]{1,64}$/.test(sku))
        await redis.hincrby(keys.stats(sku), 'dead_lettered', 1);
    },
  };
}
