/**
 * The outbox relay: publishes accepted orders that Kafka has not acknowledged (the broker was
 * down or slow, the gate crashed between reservation and ack), oldest first per sale.
 * Duplicates are harmless: the worker deduplicates by order id.
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

/**
 * One relay pass: returns how many orders it published and completed. Nothing is claimed
 * while the publisher says the broker is down: the pass after its next probe takes them.
 */
export async function relayOutboxOnce(deps: OutboxRelayDeps): Promise<number> {
  if (!deps.publisher.available()) return 0;
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

/**
 * Runs {@link relayOutboxOnce} every `intervalMs`, one pass at a time; a pass that filled its
 * batch is followed at once by another, so a backlog drains at the broker's pace.
 */
export function startOutboxRelay(
  deps: OutboxRelayDeps & {
    readonly intervalMs: number;
    /** Told how many orders a pass re-published (metrics, logs). */
    readonly onRelayed: (count: number) => void;
    readonly onError: (error: unknown) => void;
  },
): RunningOutboxRelay {
  let running: Promise<void> | undefined;
  let stopped = false;
  const runOnce = (): Promise<void> =>
    (running ??= (async () => {
      for (;;) {
        const relayed = await relayOutboxOnce(deps);
        deps.onRelayed(relayed);
        if (relayed < deps.batchSize || stopped) return;
      }
    })()
      .catch(deps.onError)
      .finally(() => {
        running = undefined;
      }));
  const timer = setInterval(() => void runOnce(), deps.intervalMs);
  return {
    async drain() {
      stopped = true;
      clearInterval(timer);
      await running;
      await runOnce();
    },
  };
}
