/** Reading a process's Prometheus text page in tests, and a quiet gate's gauge sources. */
import type { GateGaugeSources } from '../../src/ops/metrics.js';

/** The value of one sample in a Prometheus text page (labels in any order); 0 when absent. */
export function sample(page: string, name: string, labels: Record<string, string> = {}): number {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of page.split('\n')) {
    const match = /^([a-z_:]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (match?.[1] !== name) continue;
    const have = (match[2] ?? '').split(',');
    if (wanted.every((w) => have.includes(w))) return Number(match[3]);
  }
  return 0;
}

/** The sum of every series of one metric in a Prometheus text page, whatever its labels. */
export function total(page: string, name: string): number {
  let sum = 0;
  for (const line of page.split('\n')) {
    const match = /^([a-z_:]+)(?:\{.*\})? (\S+)$/.exec(line);
    if (match?.[1] === name) sum += Number(match[2]);
  }
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
};
