/**
 * A circuit breaker in front of one dependency (Redis, the Kafka broker), so that no request
 * waits on a dependency known to be down: after `failures` consecutive failures every call is
 * refused at once with the time until the next probe, then one call probes and its outcome
 * closes or reopens the circuit. Built on cockatiel's breaker, with one change of behaviour:
 * while the probe is under way other calls are refused, not queued behind it.
 */
import {
  BrokenCircuitError,
  CircuitState,
  ConsecutiveBreaker,
  circuitBreaker,
  handleAll,
} from 'cockatiel';

/** The circuit is open: the call was not made. */
export class CircuitOpenError extends Error {
  /** Time until the next probe may close the circuit, in ms. */
  readonly retryAfterMs: number;

  constructor(dependency: string, retryAfterMs: number) {
    super(`${dependency} is unavailable (circuit open)`);
    this.name = 'CircuitOpenError';
    this.retryAfterMs = retryAfterMs;
  }
}

/** How a breaker behaves. */
export interface BreakerOptions {
  /** Named in errors and logs. */
  readonly dependency: string;
  /** Consecutive failures that open the circuit. */
  readonly failures: number;
  /** How long the circuit stays open before a call probes the dependency. */
  readonly probeAfterMs: number;
  /** Told when the circuit opens (`true`) and closes (`false`). */
  readonly onChange?: (open: boolean) => void;
}

/** A breaker guarding one dependency. */
export interface Breaker {
  /** Runs `call`, or throws {@link CircuitOpenError} without running it while the circuit is open. */
  run<T>(call: () => Promise<T>): Promise<T>;
  /** True while a call would be refused now (open and not yet due to probe, or probing). */
  isOpen(): boolean;
  /** Time until a call may be let through, in ms: 0 when closed or due to probe. */
  retryAfterMs(): number;
}

/** Creates a breaker. */
export function createBreaker(options: BreakerOptions): Breaker {
  const policy = circuitBreaker(handleAll, {
    halfOpenAfter: options.probeAfterMs,
    breaker: new ConsecutiveBreaker(options.failures),
  });
  let openedAt = 0;
  policy.onBreak(() => {
    openedAt = Date.now();
    options.onChange?.(true);
  });
  policy.onReset(() => {
    options.onChange?.(false);
  });

  const retryAfterMs = (): number => {
    switch (policy.state) {
      case CircuitState.Closed:
        return 0;
      case CircuitState.Open:
        return Math.max(0, openedAt + options.probeAfterMs - Date.now());
      default:
        // Probing: the probe's own budget decides; the breaker's period is a fair guess.
        return options.probeAfterMs;
    }
  };
  const refuse = () => new CircuitOpenError(options.dependency, Math.max(1, retryAfterMs()));

  return {
    async run(call) {
      // cockatiel queues calls behind a half-open probe; a dependency that may be dead must
      // not hold requests, so they are refused instead.
      if (policy.state === CircuitState.HalfOpen) throw refuse();
      try {
        return await policy.execute(call);
      } catch (error) {
        if (error instanceof BrokenCircuitError) throw refuse();
        throw error;
      }
    },
    isOpen: () => policy.state !== CircuitState.Closed && retryAfterMs() > 0,
    retryAfterMs,
  };
}
