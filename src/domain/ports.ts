/**
 * Ports: what the order path needs from the outside world. Adapters in src/redis and
 * src/kafka implement them; tests may use in-memory fakes.
 */
import type { AcceptedOrder } from './order.js';
import type { OrderView } from './order-view.js';
import type { Sale } from './sale.js';
import type { Refusal } from './refusal.js';

/** A reserved order and the outbox entry that carries it until Kafka acknowledges it. */
export interface Reservation {
  readonly order: AcceptedOrder;
  readonly entryId: string;
}

/**
 * What the reservation store decided for one request. A refusal replayed from the key's
 * stored answer is `refused` with `refusal.replayed` set.
 */
export type ReservationOutcome =
  | { readonly kind: 'reserved'; readonly reservation: Reservation; readonly unitsLeft: number }
  | { readonly kind: 'in-flight' }
  | { readonly kind: 'replay-accepted'; readonly order: AcceptedOrder }
  | { readonly kind: 'refused'; readonly refusal: Refusal };

/**
 * What the sold-out check decided: as a reservation would, or `stock-left` when the counter
 * is above zero after all (the gate's flag was stale) and nothing was decided.
 */
export type SoldOutOutcome = ReservationOutcome | { readonly kind: 'stock-left' };

/** The reservation store: idempotency, admission, limits, stock and the outbox, atomically. */
export interface ReservationStore {
  /** Runs the whole admission decision for one order (one atomic step). */
  reserve(order: AcceptedOrder, fingerprint: string): Promise<ReservationOutcome>;
  /**
   * Refuses SOLD_OUT when the counter is at zero, without touching buckets or limits, unless
   * the key already has an answer; `stock-left` when units remain.
   */
  refuseSoldOut(order: AcceptedOrder, fingerprint: string): Promise<SoldOutOutcome>;
  /** Kafka acknowledged these orders: mark their keys COMPLETED, drop their outbox entries. */
  complete(reservations: readonly Reservation[]): Promise<void>;
  /** The publish certainly failed: put everything back. False if there was nothing to release. */
  release(reservation: Reservation): Promise<boolean>;
  /**
   * Outbox entries older than `olderThanMs` whose sale this process may relay now (at most one
   * relaying process per sale at a time), up to `limit`.
   */
  claimStale(olderThanMs: number, limit: number): Promise<Reservation[]>;
}

/** The live record of orders by id, so GetOrder knows an order the moment it is accepted. */
export interface OrderRecorder {
  /** Records a reserved order as PENDING. */
  remember(order: AcceptedOrder): Promise<void>;
  /** Withdraws the record of an order that certainly did not happen. */
  forget(orderId: string): Promise<void>;
}

/**
 * How a publish ended: `acked` by all in-sync replicas; `failed` with certainty that no record
 * was written; `unknown` when it may or may not have been written.
 */
export type PublishOutcome = 'acked' | 'failed' | 'unknown';

/** Publishes accepted orders to the order topic. */
export interface OrderPublisher {
  /** Publishes one order; concurrent calls share produce requests. */
  publish(order: AcceptedOrder): Promise<PublishOutcome>;
}

/** What the order database knows of a sale: its stock and its recorded orders. */
export interface OrderTotals {
  readonly confirmed: number;
  readonly rejected: number;
  /** Units of every recorded order, confirmed or rejected. */
  readonly recordedUnits: number;
  /** The database's stock (same snapshot), or null for an unknown sku. */
  readonly stock: number | null;
}

/** The order database, as the admin and read paths use it. */
export interface SaleDatabase {
  /** Creates the sale, or updates its settings (`created` says which); total stock never changes here. */
  upsertSale(sale: Sale): Promise<{ sale: Sale; created: boolean }>;
  /** Adds units to stock and total; undefined for an unknown sku. */
  restock(sku: string, units: number): Promise<Sale | undefined>;
  /** Sets the paused flag; undefined for an unknown sku. */
  setPaused(sku: string, paused: boolean): Promise<Sale | undefined>;
  /** One sale and its database stock, or undefined. */
  getSale(sku: string): Promise<{ sale: Sale; stock: number } | undefined>;
  /** Every sale, by sku. */
  listSales(): Promise<Sale[]>;
  /** Totals of a sale's recorded orders. */
  orderTotals(sku: string): Promise<OrderTotals>;
  /** A recorded order, or undefined. */
  findOrder(orderId: string): Promise<OrderView | undefined>;
}

/** A sale's live counters, as kept by the gates. */
export interface LiveCounters {
  readonly accepted: number;
  readonly acceptedUnits: number;
  readonly soldOut: number;
  readonly rateLimited: number;
  readonly replays: number;
  readonly deadLettered: number;
}

/** The live sale store (Redis): what the gates sell from. */
export interface LiveSales {
  /** Loads a sale with `unitsLeft` available and `acceptedUnits` as the accepted-units baseline. */
  load(sale: Sale, unitsLeft: number, acceptedUnits: number): Promise<void>;
  /** Changes settings only; false when the sale is not live. */
  updateSettings(sale: Sale): Promise<boolean>;
  /** Adds units; false when the counter is missing (the sale stays closed). */
  restock(sku: string, units: number): Promise<boolean>;
  /** The sale and its counter (null when lost), or undefined when not live. */
  read(sku: string): Promise<{ sale: Sale; unitsLeft: number | null } | undefined>;
  /** The gates' counters. */
  counters(sku: string): Promise<LiveCounters>;
  /** Counter and accepted units, read together. */
  snapshot(sku: string): Promise<{ unitsLeft: number | null; acceptedUnits: number }>;
  /** Moves the counter by `delta` if it exists. */
  adjust(sku: string, delta: number): Promise<boolean>;
  /** Tells every gate the sale changed (drops sold-out flags). */
  announce(sku: string): Promise<void>;
}
