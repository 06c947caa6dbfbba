/** Reads the outbox of every sale for the metrics: depth and the age of the oldest entry. */
import type { Redis } from 'ioredis';
import type { Keys } from './keys.js';

/** One sale's outbox. */
export interface OutboxStats {
  readonly sku: string;
  readonly depth: number;
  /** Seconds since the oldest entry was added (0 when empty), by the Redis clock. */
  readonly oldestAgeSeconds: number;
}

/** Outbox depth and oldest age for every known sale (a few small calls per sale). */
export async function readOutboxStats(redis: Redis, keys: Keys): Promise<OutboxStats[]> {
  const [[seconds, micros], skus] = await Promise.all([redis.time(), redis.smembers(keys.sales)]);
  const nowMs = Number(seconds) * 1000 + Number(micros) / 1000;
  return Promise.all(
    skus.map(async (sku) => {
      const [depth, first] = await Promise.all([
        redis.xlen(keys.outbox(sku)),
        redis.xrange(keys.outbox(sku), '-', '+', 'COUNT', 1),
      ]);
      // Stream ids begin with the Redis clock in ms when the entry was added.
      const firstId = first[0]?.[0];
      const addedMs = firstId === undefined ? nowMs : Number(firstId.split('-')[0]);
      return { sku, depth, oldestAgeSeconds: Math.max(0, (nowMs - addedMs) / 1000) };
    }),
  );
}
