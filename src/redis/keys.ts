/**
 * Every Redis key name, and nowhere else. All keys of one sale share the hash tag `{sku}`, so
 * one Lua script can touch them all and the design runs unchanged on Redis Cluster.
 */

/** The member of a sale's accepted keys that says the set holds every accepted order's key. */
export const acceptedKeysComplete = '*';

/** Key builders for one key prefix (one environment or one test). */
export interface Keys {
  /** Set of every sku with a sale (a global index: not in any sale's slot). */
  readonly sales: string;
  /** Pub/sub channel of OrderStatusChanged events (protobuf binary), for WatchOrder. */
  readonly orderStatusChannel: string;
  /** Pub/sub channel of sale changes (the sku), so gates drop sold-out flags on restock. */
  readonly saleEventsChannel: string;
  /** String (JSON): one order's live status (own hash tag: looked up by order id alone). */
  order(orderId: string): string;
  /** Hash: the sale's settings. */
  sale(sku: string): string;
  /** String: units left. */
  stock(sku: string): string;
  /** Hash: the sale's admission token bucket. */
  saleBucket(sku: string): string;
  /** Hash: one customer's token bucket in this sale. */
  customerBucket(sku: string, customerId: string): string;
  /** String: units one customer holds in this sale (for the per-customer limit). */
  bought(sku: string, customerId: string): string;
  /** Hash: one idempotency entry, by the SHA-256 of customer id and key (fingerprint.ts). */
  idempotency(sku: string, keyHash: string): string;
  /** Stream: accepted orders not yet acknowledged by Kafka. */
  outbox(sku: string): string;
  /** Hash: the gate's counters for the sale. */
  stats(sku: string): string;
  /** String: held by the gate process currently relaying this sale's outbox. */
  relayLock(sku: string): string;
  /** String: held by the gate process reloading this sale after the live store lost it. */
  reloadLock(sku: string): string;
  /**
   * Set: the idempotency key hashes of the sale's accepted orders, and `*` when it holds all of
   * them (the sale was loaded fresh; a reload drops it). Bounded by the stock.
   */
  acceptedKeys(sku: string): string;
  /**
   * Hash: the sale's waiting room (src/queue/queue.lua): positions issued and called, and when
   * it was last advanced.
   */
  queue(sku: string): string;
  /** Sorted set: when positions were called (score: the last position of one advance). */
  queueCalls(sku: string): string;
  /** Bitmap: positions whose ticket admitted an order (each ticket admits one). */
  queueUsed(sku: string): string;
  /** String: written before a WAIT so the WAIT covers every write to the sale's shard before it. */
  replicaBarrier(sku: string): string;
}

/** Builds the key names for `prefix`. */
export function createKeys(prefix: string): Keys {
  const tag = (sku: string) => `${prefix}:{${sku}}`;
  return {
    sales: `${prefix}:sales`,
    orderStatusChannel: `${prefix}:order-status`,
    saleEventsChannel: `${prefix}:sale-events`,
    order: (orderId) => `${prefix}:order:{${orderId}}`,
    sale: (sku) => `${tag(sku)}:sale`,
    stock: (sku) => `${tag(sku)}:stock`,
    saleBucket: (sku) => `${tag(sku)}:bucket`,
    customerBucket: (sku, customerId) => `${tag(sku)}:bucket:${customerId}`,
    bought: (sku, customerId) => `${tag(sku)}:bought:${customerId}`,
    idempotency: (sku, keyHash) => `${tag(sku)}:idem:${keyHash}`,
    outbox: (sku) => `${tag(sku)}:outbox`,
    stats: (sku) => `${tag(sku)}:stats`,
    relayLock: (sku) => `${tag(sku)}:relay-lock`,
    reloadLock: (sku) => `${tag(sku)}:reload-lock`,
    replicaBarrier: (sku) => `${tag(sku)}:replica-barrier`,
    acceptedKeys: (sku) => `${tag(sku)}:accepted-keys`,
    queue: (sku) => `${tag(sku)}:queue`,
    queueCalls: (sku) => `${tag(sku)}:queue-calls`,
    queueUsed: (sku) => `${tag(sku)}:queue-used`,
  };
}
