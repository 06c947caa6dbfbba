/**
 * grafana/flux-gate.json charts every metric the gate (with its cluster primary) and the worker
 * export, and nothing they don't: a renamed metric cannot silently leave a panel empty.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import {
  createGateMetrics,
  createPrimaryMetrics,
  createWorkerMetrics,
} from '../../src/ops/metrics.js';
import { idleGateSources } from '../support/metrics.js';

const dashboard = JSON.parse(
  readFileSync(new URL('../../grafana/flux-gate.json', import.meta.url), 'utf8'),
) as { panels: { title: string; targets: { expr: string }[] }[] };

/** Our own metric names (not the Node.js process defaults). */
function exported(): Set<string> {
  const gate = createGateMetrics(idleGateSources);
  const worker = createWorkerMetrics({ lag: async () => [] });
  const primary = createPrimaryMetrics({ listening: () => 0 });
  const names = [gate.registry, worker.registry, primary.registry].flatMap((r) =>
    r.getMetricsAsArray().map((m) => m.name),
  );
  return new Set(
    names.filter((n) => n.startsWith('fluxgate_gate_') || n.startsWith('fluxgate_worker_')),
  );
}

/** Metric names in the panels' queries, histogram suffixes stripped. */
function charted(): Set<string> {
  const names = dashboard.panels.flatMap((p) =>
    p.targets.flatMap((t) => t.expr.match(/fluxgate_[a-z0-9_]+/g) ?? []),
  );
  return new Set(names.map((n) => n.replace(/_(bucket|sum|count)$/, '')));
}

describe('Grafana dashboard', () => {
  test('charts exactly the exported metrics', () => {
    const ours = [...charted()].filter((n) => /^fluxgate_(gate|worker)_/.test(n));
    expect(ours.sort()).toEqual([...exported()].sort());
  });

  test('the process metrics it charts exist', () => {
    const gate = createGateMetrics(idleGateSources);
    const defaults = new Set(gate.registry.getMetricsAsArray().map((m) => m.name));
    for (const name of charted()) {
      if (!/^fluxgate_(gate|worker)_/.test(name)) expect(defaults.has(name), name).toBe(true);
    }
  });
});
