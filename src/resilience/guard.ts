/**
 * A dependency's port behind a circuit breaker: every call of a guarded port runs through the
 * breaker, and a failure becomes a refusal that names the dependency and says whether the
 * request may have taken effect, so that no request runs to its deadline on a dead dependency
 * and no outage is answered as an internal error.
 */
import { Refusal, type RefusalFacts } from '../domain/refusal.js';
import { CircuitOpenError, type Breaker } from './breaker.js';

/**
 * What a failed call of the port means for its request: `unknown` when a write may have been
 * applied (a timed-out script, a connection lost mid-call, a commit whose answer was lost);
 * `none` when the port only reads or its writes do not decide the answer.
 */
export type FailedCallOutcome = 'unknown' | 'none';

/** How to guard one port. */
export interface GuardOptions {
  readonly dependency: NonNullable<RefusalFacts['dependency']>;
  readonly outcome: FailedCallOutcome;
  /** True for an error the client raised before sending anything (the call certainly did nothing). */
  readonly unsent?: (error: Error) => boolean;
  /** The least delay a buyer is asked to wait after a failure, ms. */
  readonly minRetryAfterMs?: number;
}

/** ioredis refuses a command at once, unsent, when it has no connection and no offline queue. */
export const redisUnsent = (error: Error): boolean => /enableOfflineQueue/.test(error.message);

/** The refusal for a failure of a call guarded by `breaker` with `options`. */
export function dependencyFailure(
  error: unknown,
  breaker: Breaker,
  options: GuardOptions,
): Refusal {
  if (error instanceof Refusal) return error;
  const { dependency } = options;
  const retryAfterMs = Math.max(
    error instanceof CircuitOpenError ? error.retryAfterMs : breaker.retryAfterMs(),
    options.minRetryAfterMs ?? 250,
  );
  const facts = { dependency, retryAfterMs };
  const certain =
    error instanceof CircuitOpenError ||
    options.outcome === 'none' ||
    (error instanceof Error && options.unsent?.(error) === true);
  if (certain) {
    return new Refusal(
      'DEPENDENCY_UNAVAILABLE',
      `${dependency} is unavailable; nothing was done`,
      facts,
      { cause: error },
    );
  }
  return new Refusal(
    'OUTCOME_UNKNOWN',
    `${dependency} failed during the request; retry with the same idempotency key to learn its outcome`,
    facts,
    { cause: error },
  );
}

/**
 * `port` with every method run through `breaker`; a method's failure is thrown as the refusal
 * {@link dependencyFailure} makes of it, and a refusal the method throws passes unchanged (and
 * does not count against the dependency). Methods named in `reads` only read: their failure
 * changed nothing, whatever `options.outcome` says. The port must be a plain object of async
 * methods.
 */
export function guarded<T extends object>(
  port: T,
  breaker: Breaker,
  options: GuardOptions,
  reads: readonly (keyof T & string)[] = [],
): T {
  const wrapped: Record<string, unknown> = {};
  for (const [name, method] of Object.entries(port)) {
    if (typeof method !== 'function') continue;
    const failure: GuardOptions = reads.includes(name as keyof T & string)
      ? { ...options, outcome: 'none' }
      : options;
    wrapped[name] = async (...args: unknown[]) => {
      let refusal: Refusal | undefined;
      const result = await breaker
        .run(async () => {
          try {
            return await (method as (...a: unknown[]) => Promise<unknown>).apply(port, args);
          } catch (error) {
            // A refusal is an answer, not a failure of the dependency.
            if (!(error instanceof Refusal)) throw error;
            refusal = error;
            return undefined;
          }
        })
        .catch((error: unknown) => {
          throw dependencyFailure(error, breaker, failure);
        });
      if (refusal) throw refusal;
      return result;
    };
  }
  return wrapped as T;
}
