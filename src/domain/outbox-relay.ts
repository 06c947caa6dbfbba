/**
 * The outbox relay: re-publishes reservations whose publish outcome was never learned (a
 * timeout, a crash between reservation and ack). Duplicates are harmless: the worker
 * deduplicates by order id. Nothing here ever releases stock.
 */
import type { OrderPublisher, ReservationStore } from './ports.js';

/** What the relay needs. */
export interface OutboxRelayDeps {
  readonly store: ReservationStore;
  readonly publisher: OrderPublisher;
  /** Entries younger than this are still owned by the call that created them. */
  readonly graceMs: number;
  /** Most entries handled per pass. */
  readonly batchSize: number;
}

/** One relay pass: returns how many orders it re-published and completed. */
export async function relayOutboxOnce(deps: OutboxRelayDeps): Promise<number> {
  const stale = await deps.store.claimStale(deps.graceMs, deps.batchSize);
  const outcomes = await Promise.all(stale.map((r) => deps.publisher.publish(r.order)));
  const acked = stale.filter((_, i) => outcomes[i] === 'acked');
  if (acked.length > 0) await deps.store.complete(acked);
  return acked.length;
}
