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

/** A relay running on a timer. */
export interface RunningOutboxRelay {
  /** Stops the timer, waits for a pass under way, then makes one last pass (at shutdown). */
  drain(): Promise<void>;
}

/** Runs {@link relayOutboxOnce} every `intervalMs`, one pass at a time. */
export function startOutboxRelay(
  deps: OutboxRelayDeps & {
    readonly intervalMs: number;
    /** Told how many orders a pass re-published (metrics, logs). */
    readonly onRelayed: (count: number) => void;
    readonly onError: (error: unknown) => void;
  },
): RunningOutboxRelay {
  let running: Promise<void> | undefined;
  const runOnce = (): Promise<void> =>
    (running ??= relayOutboxOnce(deps)
      .then(deps.onRelayed, deps.onError)
      .finally(() => {
        running = undefined;
      }));
  const timer = setInterval(() => void runOnce(), deps.intervalMs);
  return {
    async drain() {
      clearInterval(timer);
      await running;
      await runOnce();
    },
  };
}
