/**
 * Readiness: is every dependency reachable right now? Each probe runs on an interval with a
 * timeout; the last results answer /readyz and grpc.health.v1 without waiting on the network.
 */
import { withTimeLimit } from '../time-limit.js';

/** One dependency check; it rejects (or times out) when the dependency is unreachable. */
export interface Probe {
  readonly name: string;
  readonly check: () => Promise<unknown>;
}

/** The last result of every probe. */
export interface ReadinessReport {
  readonly ready: boolean;
  /** `ok`, or why the probe failed, by probe name. */
  readonly checks: Readonly<Record<string, string>>;
}

/** Live readiness of a process. */
export interface Readiness {
  /** The last results; not ready before the first round or while draining. */
  report(): ReadinessReport;
  /** Called with the new state whenever `ready` flips. Returns the unsubscribe function. */
  onChange(listener: (ready: boolean) => void): () => void;
  /** Runs every probe now. */
  refresh(): Promise<void>;
  /** From now on not ready (shutting down: load balancers should stop sending). */
  drain(): void;
  /** Stops probing. */
  close(): void;
}

/** How often dependencies are probed, and how long each probe may take. */
const defaultProbing = { intervalMs: 2000, timeoutMs: 1500 } as const;

/** Starts probing every `intervalMs`; each probe gets `timeoutMs`. */
export function startReadiness(
  probes: readonly Probe[],
  options: { intervalMs: number; timeoutMs: number } = defaultProbing,
): Readiness {
  const results = new Map<string, string>(probes.map((p) => [p.name, 'not checked yet']));
  const listeners = new Set<(ready: boolean) => void>();
  let draining = false;
  let ready = false;

  const update = () => {
    const now = !draining && [...results.values()].every((r) => r === 'ok');
    if (now === ready) return;
    ready = now;
    for (const listener of listeners) listener(now);
  };

  const runProbe = async (probe: Probe): Promise<void> => {
    try {
      await withTimeLimit(Promise.resolve(probe.check()), options.timeoutMs, probe.name);
      results.set(probe.name, 'ok');
    } catch (error) {
      results.set(probe.name, error instanceof Error ? error.message : String(error));
    }
  };

  let running: Promise<void> | undefined;
  const refresh = (): Promise<void> => {
    running ??= Promise.all(probes.map(runProbe)).then(() => {
      running = undefined;
      update();
    });
    return running;
  };
  const timer = setInterval(() => void refresh(), options.intervalMs);
  timer.unref();
  void refresh();

  return {
    report: () => ({ ready, checks: Object.fromEntries(results) }),
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    refresh,
    drain() {
      draining = true;
      update();
    },
    close() {
      clearInterval(timer);
      listeners.clear();
    },
  };
}
