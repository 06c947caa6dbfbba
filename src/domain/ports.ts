/**
 * Ports: what the order path needs from the outside world. Adapters in src/redis and
 * src/kafka implement them; tests may use in-memory fakes.
 */
import type { AcceptedOrder } from './order.js';
import type { OrderView } from './order-view.js';
import type { Sale } from './sale.js';
import type { Refusal } from './refusal.js';

/**
 * A reserved order and the outbox entry that carries it until Kafka acknowledges it. A
 * reservation is an accepted order: nothing takes it back.
 */
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
  | { readonly kind: 'replay-accepted'; readonly order: AcceptedOrder }
  | { readonly kind: 'refused'; readonly refusal: Refusal }
  /**
   * The sale's admission refused the order for its rate (tickets are waiting, or its bucket is
   * dry), or the order's ticket is not called yet: the buyer waits in the queue. Nothing stored.
   */
  | { readonly kind: 'queued'; readonly nowServing: number; readonly retryAfterMs: number };

/**
 * What the sold-out check decided: as a reservation would, or `stock-left` when the counter
 * is above zero after all (the gate's flag was stale) and nothing was decided.
 */
export type SoldOutOutcome = ReservationOutcome | { readonly kind: 'stock-left' };

/** A called queue ticket, as the store checks it: its place in line and its issue time. */
export interface TicketAdmission {
  readonly position: number;
  readonly issuedAtMs: number;
}

/**
 * How the sale admits an order: its bucket (`bucket`, unless queue tickets wait: then the
 * order is queued), a token the gate leased from it already (`leased`), or a queue ticket.
 */
export type SaleAdmission = 'bucket' | 'leased' | TicketAdmission;

/** The reservation store: idempotency, admission, limits, stock and the outbox, atomically. */
export interface ReservationStore {
  /**
   * Runs the whole admission decision for one order (one atomic step); `leased`: the gate
   * spent a token of its admission lease on it, so the sale's bucket is not charged again.
   */
  reserve(
    order: AcceptedOrder,
    fingerprint: string,
    admission?: SaleAdmission,
  ): Promise<ReservationOutcome>;
  /**
   * Refuses SOLD_OUT when the counter is at zero, without touching buckets or limits, unless
   * the key already has an answer; `stock-left` when units remain.
   */
  refuseSoldOut(order: AcceptedOrder, fingerprint: string): Promise<SoldOutOutcome>;
  /** Kafka acknowledged these orders: mark their keys COMPLETED, drop their outbox entries. */
  complete(reservations: readonly Reservation[]): Promise<void>;
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
  /**
   * False while the broker is known to be unreachable and not yet due to be tried again: a
   * publish now would only wait to fail, so accepted orders stay in the outbox for the relay.
   */
  available(): boolean;
}

/**
 * Counts the orders being decided: read, their reservation not yet answered. The gate's
 * overload guard bounds them (src/admission/overload.ts).
 */
export interface DecisionCounter {
  enter(): void;
  leave(): void;
}

/** What the order path answers for a sale the live store does not have. */
export interface LostSales {
  /**
   * SALE_NOT_FOUND when the order database does not know the sale either; otherwise the live
   * store has lost it, a reload is started (by one gate), and the refusal is
   * SALE_STATE_RELOADING with a retry delay.
   */
  refusalFor(sku: string): Promise<Refusal>;
}

/** What the order database knows of a sale: its stock and its recorded orders. */
export interface OrderTotals {
  readonly confirmed: number;
  readonly rejected: number;
  /** Units of every recorded order, confirmed or rejected. */
  readonly recordedUnits: number;
  /** The database's stock (same snapshot), or null for an unknown sku. */
  readonly stock: number | null;
  /** The sale's total stock (same snapshot), or null for an unknown sku. */
  readonly totalStock: number | null;
}

/** A restock as the database recorded it under its idempotency key. */
export interface RecordedRestock {
  /** The sale as stored now. */
  readonly sale: Sale;
  /**
   * The sale's total stock right after this restock (restocks of one sale are serialized by
   * the product's row lock, so this orders them): the live store holds every restock whose
   * total is at most its own total.
   */
  readonly totalStockAfter: number;
  /** True when the key was already recorded: this call changed nothing. */
  readonly replayed: boolean;
}

/** Everything a reload takes from the database, read in one snapshot. */
export interface ReloadSnapshot {
  readonly sale: Sale;
  /** The database's stock. */
  readonly stock: number;
  /** Units of every recorded order, confirmed or rejected (what the gates had accepted). */
  readonly recordedUnits: number;
  /**
   * Units each customer with a recorded order holds: every recorded order but the REJECTED ones
   * (a rejected order gave the customer nothing, so it does not count against the limit).
   */
  readonly holdings: ReadonlyMap<string, number>;
  /** Which of the order ids asked about are recorded. */
  readonly recordedOrderIds: ReadonlySet<string>;
}

/** The order database, as the admin and read paths use it. */
export interface SaleDatabase {
  /** Creates the sale, or updates its settings (`created` says which); total stock never changes here. */
  upsertSale(sale: Sale): Promise<{ sale: Sale; created: boolean }>;
  /**
   * Adds units to stock and total and records `requestKey` in the same transaction; a key
   * already recorded for the same sku and units changes nothing and answers as recorded
   * (`replayed`), one recorded for anything else is refused IDEMPOTENCY_KEY_REUSED. Undefined
   * for an unknown sku.
   */
  restock(sku: string, units: number, requestKey: string): Promise<RecordedRestock | undefined>;
  /** Sets the paused flag; undefined for an unknown sku. */
  setPaused(sku: string, paused: boolean): Promise<Sale | undefined>;
  /** One sale and its database stock, or undefined. */
  getSale(sku: string): Promise<{ sale: Sale; stock: number } | undefined>;
  /** Every sale, by sku. */
  listSales(): Promise<Sale[]>;
  /** Totals of a sale's recorded orders. */
  orderTotals(sku: string): Promise<OrderTotals>;
  /**
   * What a reload of `sku` needs, from one snapshot; `orderIds` are the orders still in the
   * live outbox (which of them are recorded). Undefined for an unknown sku.
   */
  reloadSnapshot(sku: string, orderIds: readonly string[]): Promise<ReloadSnapshot | undefined>;
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

/** A whole live load of a sale, computed from the database and the outbox (see `reload`). */
export interface LiveLoad {
  readonly sale: Sale;
  readonly unitsLeft: number;
  /** Accepted-units baseline: recorded units plus units of outbox orders not yet recorded. */
  readonly acceptedUnits: number;
  /** Units each customer holds (for the per-customer limit); 0 clears a customer's count. */
  readonly holdings: ReadonlyMap<string, number>;
  /** The outbox entries the load was computed from, oldest first. */
  readonly outboxEntryIds: readonly string[];
}

/**
 * How a reload ended: `loaded`; `live` when the sale was already whole (another reload came
 * first: nothing written); `moved` when the outbox is no longer the one the load was computed
 * from (nothing written: compute again).
 */
export type LiveLoadOutcome = 'loaded' | 'live' | 'moved';

/** The live sale store (Redis): what the gates sell from. */
export interface LiveSales {
  /** Loads a new sale with `unitsLeft` available and `acceptedUnits` as the accepted-units baseline. */
  load(sale: Sale, unitsLeft: number, acceptedUnits: number): Promise<void>;
  /**
   * Loads a sale whose live data is lost (its settings or its counter), in one atomic step:
   * settings, counter, accepted units and every customer's holding. Writes nothing when the sale
   * is whole or the outbox moved.
   */
  reload(load: LiveLoad): Promise<LiveLoadOutcome>;
  /** Changes settings only (never the total: restocks and loads own it); false when not live. */
  updateSettings(sale: Sale): Promise<boolean>;
  /**
   * Brings the live sale up to the database's total after a restock: adds the units of every
   * restock it does not hold yet (none when it holds them all: retrying is safe). False when the
   * sale or its counter is missing (it stays closed until reloaded).
   */
  restock(sku: string, totalStockAfter: number): Promise<boolean>;
  /** The sale and its counter (null when lost), or undefined when not live. */
  read(sku: string): Promise<{ sale: Sale; unitsLeft: number | null } | undefined>;
  /** The gates' counters. */
  counters(sku: string): Promise<LiveCounters>;
  /** Counter, accepted units and total stock (null when lost), read together. */
  snapshot(
    sku: string,
  ): Promise<{ unitsLeft: number | null; acceptedUnits: number; totalStock: number | null }>;
  /**
   * Moves the counter by `delta` and sets the total to `totalStock`, if the counter exists and
   * the total is still `seenTotal` (no restock reached the live sale since the snapshot).
   */
  adjust(sku: string, delta: number, seenTotal: number, totalStock: number): Promise<boolean>;
  /** Accepted orders still in the outbox (not yet acknowledged by Kafka), oldest first. */
  outbox(sku: string): Promise<Reservation[]>;
  /** Tells every gate the sale changed (drops sold-out flags). */
  announce(sku: string): Promise<void>;
}
