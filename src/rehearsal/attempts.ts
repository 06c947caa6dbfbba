/**
 * The rehearsing machine's bound on PlaceOrder calls in flight. It stands for this machine's
 * capacity, not the crowd's: an attempt that tries a buyer's order again (with their called
 * ticket, say) goes before first tries still waiting here, as a real buyer's retry waits behind
 * nobody's first try. With one queue in arrival order, an all-at-once crowd of 20,000 held the
 * called buyers back behind thousands of first tries, and the sale sold out in 10.6 s on this
 * project's machine; retries first, in 3.0 to 3.7 s over three runs (docs/rehearsal.md).
 */
import PQueue from 'p-queue';

/** Runs attempts, at most `inFlight` at once, retries before first tries. */
export interface AttemptQueue {
  /** Runs `attempt` of the order under `idempotencyKey` when its turn comes. */
  run<T>(idempotencyKey: string, attempt: () => Promise<T>): Promise<T>;
}

/** An attempt queue of `inFlight` places. */
export function attemptQueue(inFlight: number): AttemptQueue {
  const calls = new PQueue({ concurrency: inFlight });
  const tried = new Set<string>();
  return {
    run(idempotencyKey, attempt) {
      const retry = tried.has(idempotencyKey);
      tried.add(idempotencyKey);
      return calls.add(attempt, { priority: retry ? 1 : 0 });
    },
  };
}
