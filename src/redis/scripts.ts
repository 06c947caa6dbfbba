/**
 * Registers each Lua script once as a named ioredis command (EVALSHA, with EVAL on NOSCRIPT),
 * and builds each script's KEYS and ARGV in a pure function, apart from the call.
 */
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import type { AcceptedOrder } from '../domain/order.js';
import type { Reservation } from '../domain/ports.js';
import type { Keys } from './keys.js';

/**
 * Script name -> file and key count (a test checks the count against the file's header).
 * `null`: the count varies per call and is passed first (EVALSHA's own numkeys argument).
 */
export const scriptFiles = {
  placeOrder: { file: 'place-order.lua', numberOfKeys: 8 },
  soldOut: { file: 'sold-out.lua', numberOfKeys: 2 },
  completeOrders: { file: 'complete-orders.lua', numberOfKeys: null },
  releaseOrder: { file: 'release-order.lua', numberOfKeys: 5 },
  adjustStock: { file: 'adjust-stock.lua', numberOfKeys: 2 },
} as const;

/** Name of a registered script. */
export type ScriptName = keyof typeof scriptFiles;

/** Reads a script's source from src/redis/lua (copied beside the compiled code by the build). */
export function scriptSource(name: ScriptName): string {
  return readFileSync(new URL(`./lua/${scriptFiles[name].file}`, import.meta.url), 'utf8');
}

/** Registers every script on the client; call once per client. */
export function registerScripts(redis: Redis): void {
  for (const name of Object.keys(scriptFiles) as ScriptName[]) {
    const { numberOfKeys } = scriptFiles[name];
    const lua = scriptSource(name);
    if (numberOfKeys === null) redis.defineCommand(name, { lua });
    else redis.defineCommand(name, { lua, numberOfKeys });
  }
}

/** KEYS followed by ARGV, as a registered command takes them. */
export type ScriptArgs = (string | number)[];

/** A client with the scripts registered, seen as callable commands. */
export type ScriptCaller = Record<ScriptName, (...args: ScriptArgs) => Promise<unknown>>;

/** Settings the place-order script needs besides the order. */
export interface PlaceOrderSettings {
  readonly idempotencyTtlMs: number;
  readonly customerRate: number;
  readonly customerBurst: number;
}

/** KEYS and ARGV of place-order.lua. */
export function placeOrderArgs(
  keys: Keys,
  order: AcceptedOrder,
  fingerprint: string,
  s: PlaceOrderSettings,
): ScriptArgs {
  const { sku, customerId } = order;
  return [
    keys.sale(sku),
    keys.stock(sku),
    keys.saleBucket(sku),
    keys.customerBucket(sku, customerId),
    keys.bought(sku, customerId),
    keys.idempotency(sku, order.idempotencyKeyHash),
    keys.outbox(sku),
    keys.stats(sku),
    fingerprint,
    order.orderId,
    order.quantity,
    s.idempotencyTtlMs,
    JSON.stringify(order),
    s.customerRate,
    s.customerBurst,
  ];
}

/** KEYS and ARGV of sold-out.lua. */
export function soldOutArgs(
  keys: Keys,
  order: AcceptedOrder,
  fingerprint: string,
  idempotencyTtlMs: number,
): ScriptArgs {
  return [
    keys.idempotency(order.sku, order.idempotencyKeyHash),
    keys.stats(order.sku),
    fingerprint,
    idempotencyTtlMs,
  ];
}

/**
 * Key count, KEYS and ARGV of complete-orders.lua for one sale's reservations (all of `rs`
 * must share a sku: one call stays in one Redis Cluster slot).
 */
export function completeOrdersArgs(keys: Keys, rs: readonly Reservation[]): ScriptArgs {
  const sku = rs[0]?.order.sku ?? '';
  return [
    rs.length + 1,
    keys.outbox(sku),
    ...rs.map((r) => keys.idempotency(sku, r.order.idempotencyKeyHash)),
    ...rs.map((r) => r.order.orderId),
    ...rs.map((r) => r.entryId),
  ];
}

/** KEYS and ARGV of release-order.lua. */
export function releaseOrderArgs(keys: Keys, r: Reservation): ScriptArgs {
  const { sku, customerId, idempotencyKeyHash, orderId, quantity } = r.order;
  return [
    keys.stock(sku),
    keys.bought(sku, customerId),
    keys.idempotency(sku, idempotencyKeyHash),
    keys.outbox(sku),
    keys.stats(sku),
    orderId,
    quantity,
    r.entryId,
  ];
}

/** KEYS and ARGV of adjust-stock.lua. */
export function adjustStockArgs(
  keys: Keys,
  sku: string,
  delta: number,
  totalDelta: number,
): ScriptArgs {
  return [keys.stock(sku), keys.sale(sku), delta, totalDelta];
}
