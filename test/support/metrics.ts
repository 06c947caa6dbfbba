/** Reading a process's Prometheus text page in tests, and a quiet gate's gauge sources. */
import type { GateGaugeSources } from '../../src/ops/metrics.js';

/** The Prometheus text page of the process whose operations port is at `opsUrl`; empty when it
 * does not answer 200 (a page without samples). */
export async function metricsPage(opsUrl: string): Promise<string> {
  const res = await fetch(`${opsUrl}/metrics`);
  return res.ok ? res.text() : '';
}

/**
 * The samples of `name` in a Prometheus text page whose labels include `labels` (in any
 * order): each one's full label text and value.
 */
export function* samples(
  page: string,
  name: string,
  labels: Record<string, string> = {},
): Generator<{ readonly labels: readonly string[]; readonly value: number }> {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of page.split('\n')) {
    // A metric name may hold digits (nodejs_eventloop_lag_p99_seconds).
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (match?.[1] !== name) continue;
    const have = (match[2] ?? '').split(',');
    if (wanted.every((w) => have.includes(w))) yield { labels: have, value: Number(match[3]) };
  }
}

/** The value of the first sample of `name` with `labels` in a Prometheus text page; 0 when absent. */
export function sample(page: string, name: string, labels: Record<string, string> = {}): number {
  for (const { value } of samples(page, name, labels)) return value;
  return 0;
}

/**
 * The sum of every sample of `name` with `labels` in a Prometheus text page (every series of a
 * metric, or all processes of a cluster primary's page); 0 when there is none.
 */
export function sumSamples(
  page: string,
  name: string,
  labels: Record<string, string> = {},
): number {
  let sum = 0;
  for (const { value } of samples(page, name, labels)) sum += value;
  return sum;
}

/** What an idle gate's gauges read: no outbox, no flags, nothing in flight, no hot sale. */
export const idleGateSources: GateGaugeSources = {
  outbox: async () => [],
  soldOutFlags: () => 0,
  overload: () => ({ inFlight: 0, admittedShare: 1 }),
  admission: () => ({
    hotSales: 0,
    leaseCalls: 0,
    tokensLeased: 0,
    refused: { RATE_LIMITED: 0, SALE_PAUSED: 0, SALE_NOT_OPEN: 0 },
  }),
  tickets: () => ({ ticketsIssued: 0, blocksTaken: 0 }),
};
