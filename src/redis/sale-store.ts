/**
 * Sales in Redis: settings hash, stock counter, counters and the index of skus. Every write
 * that the gate must never see half-done is one MULTI or one script.
 */
import type { RedisClient } from './client.js';
import type { LiveLoadOutcome, LiveSales } from '../domain/ports.js';
import type { Sale } from '../domain/sale.js';
import { acceptedKeysComplete, type Keys } from './keys.js';
import { readOutbox } from './outbox.js';
import {
  adjustStockArgs,
  reloadSaleArgs,
  restockArgs,
  restoreHoldingsArgs,
  type ScriptCaller,
} from './scripts.js';

/** What reload-sale.lua's (and restore-holdings.lua's 0 and 1) return codes mean. */
const reloadOutcomes: Record<number, LiveLoadOutcome> = { 0: 'loaded', 1: 'live', 2: 'moved' };

/**
 * Customers per reload script call: one call for the sales most have, and for a sale with
 * many customers, chunks that each keep Redis busy for milliseconds, not for the whole load.
 */
const holdingsPerCall = 1000;

/**
 * Settings fields of the sale hash (the Lua scripts read the same names), without the total:
 * only a load or a restock sets it, because it says which restocks the counter holds.
 */
function settingsOf(sale: Sale): Record<string, string | number> {
  return {
    name: sale.name,
    limit: sale.perCustomerLimit,
    starts_at_ms: sale.startsAtMs,
    ends_at_ms: sale.endsAtMs,
    rate: sale.admissionRate,
    burst: sale.admissionBurst,
    paused: sale.paused ? '1' : '0',
    lottery: sale.preQueueLottery ? '1' : '0',
  };
}

/** Writes a sale's settings and sets its stock counter to `unitsLeft`, atomically (tests, benchmarks). */
export async function loadSale(
  redis: RedisClient,
  keys: Keys,
  sale: Sale,
  unitsLeft: number,
): Promise<void> {
  await createRedisSaleStore(redis, keys).load(sale, unitsLeft, 0);
}

function saleFrom(sku: string, h: Record<string, string>): Sale {
  return {
    sku,
    name: h.name ?? '',
    totalStock: Number(h.total),
    perCustomerLimit: Number(h.limit),
    startsAtMs: Number(h.starts_at_ms),
    endsAtMs: Number(h.ends_at_ms),
    admissionRate: Number(h.rate),
    admissionBurst: Number(h.burst),
    paused: h.paused === '1',
    preQueueLottery: h.lottery === '1',
  };
}

/** Creates the store. */
export function createRedisSaleStore(redis: RedisClient, keys: Keys): LiveSales {
  const run = redis as unknown as ScriptCaller;
  return {
    async load(sale, unitsLeft, acceptedUnits) {
      // The index lies outside the sale's slot, so apart from the transaction (as in reload).
      await redis.sadd(keys.sales, sale.sku);
      const accepted = keys.acceptedKeys(sale.sku);
      const load = redis
        .multi()
        .hset(keys.sale(sale.sku), { ...settingsOf(sale), total: sale.totalStock })
        .set(keys.stock(sale.sku), unitsLeft)
        .hset(keys.stats(sale.sku), 'accepted_units', acceptedUnits)
        .del(accepted);
      // A sale loaded fresh has accepted nothing yet: its (empty) accepted keys are complete.
      if (acceptedUnits === 0) load.sadd(accepted, acceptedKeysComplete);
      await load.exec();
    },

    async updateSettings(sale) {
      const key = keys.sale(sale.sku);
      if ((await redis.exists(key)) === 0) return false;
      // Should the keys vanish in between, this leaves settings without a counter: the sale
      // then fails closed until reloaded, as with any lost counter.
      await redis.hset(key, settingsOf(sale));
      // A paused sale's queue waited: resumed, it calls from now on, not for the pause.
      if ((await redis.exists(keys.queue(sale.sku))) === 1) {
        const [seconds, micros] = await redis.time();
        const nowMs = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
        await redis.hset(keys.queue(sale.sku), 'ts_ms', nowMs);
      }
      return true;
    },

    async reload(load) {
      // The index lives outside the sale's slot: added apart, first, so the relay finds the
      // sale's outbox as soon as it sells again (an index entry without a live sale is harmless).
      await redis.sadd(keys.sales, load.sale.sku);
      const { sku } = load.sale;
      const holdings = [...load.holdings];
      // Every chunk but the last, first: each is written only while the sale is not whole, and
      // no order is admitted until the last call makes the sale whole.
      const last = Math.max(0, holdings.length - holdingsPerCall);
      for (let i = 0; i < last; i += holdingsPerCall) {
        const chunk = holdings.slice(i, Math.min(i + holdingsPerCall, last));
        if (Number(await run.restoreHoldings(...restoreHoldingsArgs(keys, sku, chunk))) === 1)
          return 'live';
      }
      const settings = { ...settingsOf(load.sale), total: load.sale.totalStock };
      const args = reloadSaleArgs(keys, settings, load, holdings.slice(last));
      const code = Number(await run.reloadSale(...args));
      const outcome = reloadOutcomes[code];
      if (outcome === undefined) throw new Error(`unknown reload-sale status ${String(code)}`);
      return outcome;
    },

    async restock(sku, totalStockAfter) {
      return (await run.restock(...restockArgs(keys, sku, totalStockAfter))) !== null;
    },

    async read(sku) {
      const [[, h], [, stock]] = ((await redis
        .multi()
        .hgetall(keys.sale(sku))
        .get(keys.stock(sku))
        .exec()) ?? []) as [[unknown, Record<string, string>], [unknown, string | null]];
      if (Object.keys(h).length === 0) return undefined;
      return { sale: saleFrom(sku, h), unitsLeft: stock === null ? null : Number(stock) };
    },

    async counters(sku) {
      const h = await redis.hgetall(keys.stats(sku));
      const n = (field: string) => Number(h[field] ?? 0);
      return {
        accepted: n('accepted'),
        acceptedUnits: n('accepted_units'),
        soldOut: n('sold_out'),
        rateLimited: n('rate_limited'),
        replays: n('replays'),
        deadLettered: n('dead_lettered'),
      };
    },

    async snapshot(sku) {
      const [[, stock], [, accepted], [, total]] = ((await redis
        .multi()
        .get(keys.stock(sku))
        .hget(keys.stats(sku), 'accepted_units')
        .hget(keys.sale(sku), 'total')
        .exec()) ?? []) as [
        [unknown, string | null],
        [unknown, string | null],
        [unknown, string | null],
      ];
      return {
        unitsLeft: stock === null ? null : Number(stock),
        acceptedUnits: Number(accepted ?? 0),
        totalStock: total === null ? null : Number(total),
      };
    },

    async adjust(sku, delta, seenTotal, totalStock) {
      const args = adjustStockArgs(keys, sku, delta, seenTotal, totalStock);
      return (await run.adjustStock(...args)) !== null;
    },

    outbox: (sku) => readOutbox(redis, keys, sku),

    async announce(sku) {
      await redis.publish(keys.saleEventsChannel, sku);
    },
  };
}
