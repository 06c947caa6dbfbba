/**
 * The outbox stream of each sale, read for the relay, a reload and the metrics (place-order.lua
 * appends to it, complete-orders.lua removes from it).
 */
import type { RedisClient } from './client.js';
import type { Reservation } from '../domain/ports.js';
import type { Keys } from './keys.js';
import { acceptedOrderFromJson } from './order-codec.js';

/** The outbox entry field holding the order (place-order.lua writes it). */
const orderField = 'order';

/**
 * A sale's outbox entries, oldest first, up to the entry id or ms `end` (`+`: all), at most
 * `count` of them. Stream ids start with the Redis clock in ms, so "older than" is an id range.
 */
export async function readOutbox(
  redis: RedisClient,
  keys: Keys,
  sku: string,
  end: string = '+',
  count = Number.POSITIVE_INFINITY,
): Promise<Reservation[]> {
  const entries = Number.isFinite(count)
    ? await redis.xrange(keys.outbox(sku), '-', end, 'COUNT', count)
    : await redis.xrange(keys.outbox(sku), '-', end);
  return entries.flatMap(([entryId, fields]) => {
    const json = fields[fields.indexOf(orderField) + 1];
    return json === undefined ? [] : [{ order: acceptedOrderFromJson(json), entryId }];
  });
}

/** Entries in one sale's outbox (accepted orders not yet acknowledged by Kafka). */
export function outboxDepth(redis: RedisClient, keys: Keys, sku: string): Promise<number> {
  return redis.xlen(keys.outbox(sku));
}

/** One sale's outbox, for the metrics. */
export interface OutboxStats {
  readonly sku: string;
  readonly depth: number;
  /** Seconds since the oldest entry was added (0 when empty), by the Redis clock. */
  readonly oldestAgeSeconds: number;
}

/** Outbox depth and oldest age for every known sale (a few small calls per sale). */
export async function readOutboxStats(redis: RedisClient, keys: Keys): Promise<OutboxStats[]> {
  const [[seconds, micros], skus] = await Promise.all([redis.time(), redis.smembers(keys.sales)]);
  const nowMs = Number(seconds) * 1000 + Number(micros) / 1000;
  return Promise.all(
    skus.map(async (sku) => {
      const [depth, first] = await Promise.all([
        outboxDepth(redis, keys, sku),
        redis.xrange(keys.outbox(sku), '-', '+', 'COUNT', 1),
      ]);
      const firstId = first[0]?.[0];
      const addedMs = firstId === undefined ? nowMs : Number(firstId.split('-')[0]);
      return { sku, depth, oldestAgeSeconds: Math.max(0, (nowMs - addedMs) / 1000) };
    }),
  );
}
