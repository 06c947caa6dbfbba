/**
 * Redis behind a circuit breaker: every call of a guarded port runs through the breaker, and a
 * failure becomes a refusal that says whether the request may have taken effect, so that no
 * request runs to its deadline on a dead Redis and no outage is answered as an internal error.
 */
import { Refusal } from '../domain/refusal.js';
import { CircuitOpenError, type Breaker } from '../resilience/breaker.js';

/**
 * What a failed call of the port means for its request: `unknown` when a write may have been
 * applied (a timed-out script, a connection lost mid-call); `none` when the port only reads or
 * its writes do not decide the answer.
 */
export type FailedCallOutcome = 'unknown' | 'none';

/**
 * ioredis refuses a command at once, unsent, when it has no connection and no offline queue.
 * (A connection closed under a sent command is not this: that command may have run.)
 */
const unsentCommand = /enableOfflineQueue/;

/** The refusal for a Redis failure of a call whose failure means `outcome`. */
export function redisFailure(error: unknown, outcome: FailedCallOutcome): Refusal {
  if (error instanceof Refusal) return error;
  const facts = { dependency: 'redis' } as const;
  if (error instanceof CircuitOpenError) {
    return new Refusal(
      'DEPENDENCY_UNAVAILABLE',
      'the live store is unavailable; nothing was done',
      {
        ...facts,
        retryAfterMs: error.retryAfterMs,
      },
    );
  }
  const message = error instanceof Error ? error.message : String(error);
  if (outcome === 'none' || unsentCommand.test(message)) {
    return new Refusal(
      'DEPENDENCY_UNAVAILABLE',
      'the live store is unavailable; nothing was done',
      facts,
      { cause: error },
    );
  }
  return new Refusal(
    'OUTCOME_UNKNOWN',
    'the live store failed during the request; retry with the same idempotency key to learn its outcome',
    facts,
    { cause: error },
  );
}

/**
 * `port` with every method run through `breaker`; a method's failure is thrown as the refusal
 * {@link redisFailure} makes of it. The port must be a plain object of async methods.
 */
export function guarded<T extends object>(
  port: T,
  breaker: Breaker,
  outcome: FailedCallOutcome,
): T {
  const wrapped: Record<string, unknown> = {};
  for (const [name, method] of Object.entries(port)) {
    if (typeof method !== 'function') continue;
    wrapped[name] = (...args: unknown[]) =>
      breaker
        .run(() => (method as (...a: unknown[]) => Promise<unknown>).apply(port, args))
        .catch((error: unknown) => {
          throw redisFailure(error, outcome);
        });
  }
  return wrapped as T;
}
