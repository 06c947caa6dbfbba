/**
 * The Redis implementation of {@link ReservationStore}: each operation is one registered Lua
 * script call; completing a batch is one call per sale. An acceptance waits for the replication
 * barrier, when there is one (replication.ts).
 */
import { randomUUID } from 'node:crypto';
import type { RedisClient } from './client.js';
import type { Reservation, ReservationStore, SoldOutOutcome } from '../domain/ports.js';
import { toReservationOutcome, type ScriptReply } from './codes.js';
import type { Keys } from './keys.js';
import { readOutbox } from './outbox.js';
import { noBarrier, type ReplicationBarrier } from './replication.js';
import {
  completeOrdersArgs,
  placeOrderArgs,
  soldOutArgs,
  timedScripts,
  type PlaceOrderSettings,
  type ScriptName,
} from './scripts.js';

/** Creates the store on a client on which {@link registerScripts} was called. */
export function createRedisReservationStore(
  redis: RedisClient,
  keys: Keys,
  settings: PlaceOrderSettings,
  onScript: (script: ScriptName, seconds: number) => void = () => undefined,
  barrier: ReplicationBarrier = noBarrier,
): ReservationStore {
  /** This store's mark on the relay locks it holds. */
  const relayToken = randomUUID();
  let passes = 0;
  // Every script call, timed for the latency histogram.
  const run = timedScripts(redis, onScript);
  /** An acceptance, new or replayed, is told only once the replicas asked for hold it. */
  const replicated = async <O extends SoldOutOutcome>(outcome: O, sku: string): Promise<O> => {
    if (outcome.kind === 'reserved' || outcome.kind === 'replay-accepted')
      await barrier.replicated(sku);
    return outcome;
  };

  return {
    async reserve(order, fingerprint, admission = 'bucket') {
      const reply = (await run.placeOrder(
        ...placeOrderArgs(keys, order, fingerprint, settings, admission),
      )) as ScriptReply;
      const outcome = toReservationOutcome(reply, order);
      if (outcome.kind === 'stock-left') throw new Error('place-order.lua answered STOCK_LEFT');
      return replicated(outcome, order.sku);
    },

    async refuseSoldOut(order, fingerprint) {
      const reply = (await run.soldOut(
        ...soldOutArgs(keys, order, fingerprint, settings.idempotencyTtlMs),
      )) as ScriptReply;
      return replicated(toReservationOutcome(reply, order), order.sku);
    },

    async complete(reservations) {
      const bySku = Map.groupBy(reservations, (r) => r.order.sku);
      await Promise.all(
        [...bySku.values()].map((rs) => run.completeOrders(...completeOrdersArgs(keys, rs))),
      );
    },

    async claimStale(olderThanMs, limit) {
      const [seconds, micros] = await redis.time();
      const cutoffMs = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000) - olderThanMs;
      const claimed: Reservation[] = [];
      // Each pass starts at the next sale, so one sale's backlog cannot starve the others.
      const skus = await redis.smembers(keys.sales);
      const start = skus.length === 0 ? 0 : passes++ % skus.length;
      for (const sku of [...skus.slice(start), ...skus.slice(0, start)]) {
        if (claimed.length >= limit) break;
        // One relaying process per sale at a time, which keeps the lock while it has work;
        // the lock lapses on its own if we die.
        const lockMs = Math.max(olderThanMs, 1000);
        const locked =
          (await redis.set(keys.relayLock(sku), relayToken, 'PX', lockMs, 'NX')) ??
          ((await redis.get(keys.relayLock(sku))) === relayToken
            ? await redis.pexpire(keys.relayLock(sku), lockMs).then(() => 'OK')
            : null);
        if (locked !== 'OK') continue;
        const entries = await readOutbox(
          redis,
          keys,
          sku,
          String(cutoffMs),
          limit - claimed.length,
        );
        // Published only once replicated, as the gate's own publish is.
        if (entries.length > 0) await barrier.replicated(sku);
        claimed.push(...entries);
      }
      return claimed;
    },
  };
}
