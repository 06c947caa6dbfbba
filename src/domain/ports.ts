/**
 * Ports: what the order path needs from the outside world. Adapters in src/redis and
 * src/kafka implement them; tests may use in-memory fakes.
 */
import type { AcceptedOrder } from './order.js';
import type { Refusal, RefusalFacts, RefusalReason } from './refusal.js';

/** A stored refusal, replayed verbatim for a repeat of the same request. */
export interface StoredRefusal extends RefusalFacts {
  readonly reason: RefusalReason;
}

/** A reserved order and the outbox entry that carries it until Kafka acknowledges it. */
export interface Reservation {
  readonly order: AcceptedOrder;
  readonly entryId: string;
}

/** What the reservation store decided for one request. */
export type ReservationOutcome =
  | { readonly kind: 'reserved'; readonly reservation: Reservation; readonly unitsLeft: number }
  | { readonly kind: 'in-flight' }
  | { readonly kind: 'replay-accepted'; readonly order: AcceptedOrder }
  | { readonly kind: 'replay-refused'; readonly refusal: StoredRefusal }
  | { readonly kind: 'refused'; readonly refusal: Refusal };

/** The reservation store: idempotency, admission, limits, stock and the outbox, atomically. */
export interface ReservationStore {
  /** Runs the whole admission decision for one order (one atomic step). */
  reserve(order: AcceptedOrder, fingerprint: string): Promise<ReservationOutcome>;
  /** Refuses SOLD_OUT without touching stock, unless the key already has an answer. */
  refuseSoldOut(order: AcceptedOrder, fingerprint: string): Promise<ReservationOutcome>;
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
