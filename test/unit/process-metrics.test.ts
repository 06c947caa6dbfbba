/**
 * The cluster primary's Prometheus page: several gate processes' registries merged into one
 * page, every series kept apart by its process's `gate_process` label, nothing dropped.
 */
import { describe, expect, test } from 'vitest';
import { createGateMetrics, mergeProcessMetrics } from '../../src/ops/metrics.js';
import { idleGateSources, sample } from '../support/metrics.js';

const gateProcess = (id: string) =>
  createGateMetrics(
    { ...idleGateSources, outbox: async () => [{ sku: 'M-1', depth: 3, oldestAgeSeconds: 1 }] },
    { gate_process: id },
  );

describe('merged process metrics', () => {
  test('each process keeps its own series, counters and histograms alike', async () => {
    const one = gateProcess('1');
    const two = gateProcess('2');
    one.requestCounter('OrderGateService.PlaceOrder', 'accepted').inc(5);
    two.requestCounter('OrderGateService.PlaceOrder', 'accepted').inc(7);
    two.placeOrderSeconds.observe(0.003);
    const page = await mergeProcessMetrics([
      await one.registry.getMetricsAsJSON(),
      await two.registry.getMetricsAsJSON(),
    ]);

    const accepted = (id: string) =>
      sample(page, 'fluxgate_gate_requests_total', {
        rpc: 'OrderGateService.PlaceOrder',
        outcome: 'accepted',
        gate_process: id,
      });
    expect([accepted('1'), accepted('2')]).toEqual([5, 7]);
    expect(sample(page, 'fluxgate_gate_place_order_seconds_count', { gate_process: '2' })).toBe(1);
    expect(sample(page, 'fluxgate_gate_place_order_seconds_count', { gate_process: '1' })).toBe(0);
    // Gauges every process reports alike stay one series per process, not a sum.
    expect(sample(page, 'fluxgate_gate_outbox_depth', { sku: 'M-1', gate_process: '1' })).toBe(3);
    expect(sample(page, 'fluxgate_gate_outbox_depth', { sku: 'M-1', gate_process: '2' })).toBe(3);
    // prom-client would omit the start time from a cluster's page; each process keeps its own.
    for (const id of ['1', '2']) {
      expect(
        sample(page, 'fluxgate_process_start_time_seconds', { gate_process: id }),
      ).toBeGreaterThan(0);
    }
    // One HELP and TYPE per metric: a valid page for one scrape.
    expect(page.match(/^# TYPE fluxgate_gate_requests_total /gm)).toHaveLength(1);
  });
});
