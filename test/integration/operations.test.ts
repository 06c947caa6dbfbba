/**
 * What an operator sees: after a small sale through a real gate and worker, the counters on
 * both operations ports match what happened; /healthz, /readyz and grpc.health.v1 answer.
 */
import { createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { AdminService } from '../../gen/fluxgate/v1/admin_pb.js';
import { Health, HealthCheckResponse_ServingStatus } from '../../gen/grpc/health/v1/health_pb.js';
import { describeFailure } from '../../src/client/retry.js';
import { sample } from '../support/metrics.js';
import { eventually } from '../support/stack.js';
import { startSystem, type System } from '../support/system.js';

let system: System;

beforeAll(async () => {
  system = await startSystem();
});
afterAll(() => system.close());

const scrape = async (base: string) => {
  const res = await fetch(`${base}/metrics`);
  expect(res.headers.get('content-type')).toContain('text/plain');
  return res.text();
};

describe('metrics after a small sale', () => {
  test('gate and worker counters match what happened', async () => {
    const { client } = system;
    await system.createSale('OPS-1', { totalStock: 5 });
    await system.createSale('OPS-2', { totalStock: 100, admissionRate: 1, admissionBurst: 1 });
    // 3 orders of 1 and 2 units take all 5 units; 2 more are refused SOLD_OUT; 1 replay;
    // 1 invalid; on OPS-2 one order gets in and 2 are rate-limited.
    const accepted = [];
    for (const [customerId, quantity] of [
      ['a', 1],
      ['b', 2],
      ['c', 2],
    ] as const) {
      accepted.push(await client.placeOrder({ sku: 'OPS-1', quantity, customerId }));
    }
    const refusal = (p: Promise<unknown>) =>
      p.then(
        () => 'accepted',
        (e: unknown) => describeFailure(e).reason,
      );
    expect(
      await refusal(
        client.orders.placeOrder({
          sku: 'OPS-1',
          quantity: 1,
          customerId: 'd',
          idempotencyKey: 'k-d',
        }),
      ),
    ).toBe('SOLD_OUT');
    expect(
      await refusal(
        client.orders.placeOrder({
          sku: 'OPS-1',
          quantity: 1,
          customerId: 'e',
          idempotencyKey: 'k-e',
        }),
      ),
    ).toBe('SOLD_OUT');
    const first = accepted[0];
    await client.placeOrder({
      sku: 'OPS-1',
      quantity: 1,
      customerId: 'a',
      idempotencyKey: first?.idempotencyKey,
    });
    expect(
      await refusal(
        client.orders.placeOrder({
          sku: 'OPS-1',
          quantity: 0,
          customerId: 'f',
          idempotencyKey: 'k-f',
        }),
      ),
    ).toBe('INVALID_ARGUMENT');
    await client.placeOrder({ sku: 'OPS-2', quantity: 1, customerId: 'g' });
    for (const customerId of ['h', 'i']) {
      expect(
        await refusal(
          client.orders.placeOrder({
            sku: 'OPS-2',
            quantity: 1,
            customerId,
            idempotencyKey: `k-${customerId}`,
          }),
        ),
      ).toBe('RATE_LIMITED');
    }

    const noToken = createClient(AdminService, createGrpcTransport({ baseUrl: system.gate.url }));
    expect(await refusal(noToken.listSales({}))).toBe('UNAUTHENTICATED');

    const gate = await scrape(system.gate.opsUrl);
    const requests = (outcome: string) =>
      sample(gate, 'fluxgate_gate_requests_total', { rpc: 'OrderGateService.PlaceOrder', outcome });
    expect(requests('accepted')).toBe(4);
    expect(requests('SOLD_OUT')).toBe(2);
    expect(requests('replayed')).toBe(1);
    expect(requests('INVALID_ARGUMENT')).toBe(1);
    expect(requests('RATE_LIMITED')).toBe(2);
    expect(sample(gate, 'fluxgate_gate_rate_limited_total', { sku: 'OPS-2' })).toBe(2);
    // Admin calls are counted like every other RPC: createSale's two upserts, and one refused.
    expect(
      sample(gate, 'fluxgate_gate_requests_total', {
        rpc: 'AdminService.UpsertSale',
        outcome: 'ok',
      }),
    ).toBe(2);
    expect(
      sample(gate, 'fluxgate_gate_requests_total', {
        rpc: 'AdminService.ListSales',
        outcome: 'UNAUTHENTICATED',
      }),
    ).toBe(1);
    expect(sample(gate, 'fluxgate_gate_place_order_seconds_count')).toBe(10);
    // One place-order script per order that reached Redis (the invalid one never did).
    expect(
      sample(gate, 'fluxgate_gate_redis_script_seconds_count', { script: 'placeOrder' }),
    ).toBeGreaterThanOrEqual(4);
    expect(sample(gate, 'fluxgate_gate_kafka_publish_batch_size_sum')).toBe(4);
    expect(
      sample(gate, 'fluxgate_gate_kafka_publish_seconds_count', { outcome: 'acked' }),
    ).toBeGreaterThanOrEqual(1);
    expect(sample(gate, 'fluxgate_gate_outbox_depth', { sku: 'OPS-1' })).toBe(0);
    expect(sample(gate, 'fluxgate_gate_sold_out_flags')).toBe(1);

    let worker = '';
    await eventually(
      async () => {
        worker = await scrape(system.worker.opsUrl);
        return (
          sample(worker, 'fluxgate_worker_orders_persisted_total', { status: 'CONFIRMED' }) === 4
        );
      },
      30_000,
      'the worker to persist 4 orders',
    );
    expect(sample(worker, 'fluxgate_worker_orders_persisted_total', { status: 'REJECTED' })).toBe(
      0,
    );
    expect(sample(worker, 'fluxgate_worker_batch_size_sum')).toBe(4);
    expect(sample(worker, 'fluxgate_worker_batches_total')).toBe(
      sample(worker, 'fluxgate_worker_transaction_seconds_count'),
    );
    expect(sample(worker, 'fluxgate_worker_dead_letters_total')).toBe(0);
    await eventually(
      async () => {
        const page = await scrape(system.worker.opsUrl);
        return [0, 1, 2].every((p) =>
          page.includes(
            `fluxgate_worker_consumer_lag{partition="${String(p)}",service="worker"} 0`,
          ),
        );
      },
      30_000,
      'consumer lag 0 on every partition',
    );
  });
});

describe('health', () => {
  test('/healthz and /readyz on both operations ports', async () => {
    for (const [base, checks] of [
      [system.gate.opsUrl, ['redis', 'kafka']],
      [system.worker.opsUrl, ['postgresql', 'redis', 'kafka']],
    ] as const) {
      const alive = await fetch(`${base}/healthz`);
      expect(alive.status).toBe(200);
      let body: { ready: boolean; checks: Record<string, string> } = { ready: false, checks: {} };
      await eventually(
        async () => {
          const res = await fetch(`${base}/readyz`);
          body = (await res.json()) as typeof body;
          return res.status === 200;
        },
        10_000,
        `${base}/readyz`,
      );
      expect(body.ready).toBe(true);
      expect(Object.keys(body.checks).sort()).toEqual([...checks].sort());
      expect(Object.values(body.checks).every((c) => c === 'ok')).toBe(true);
    }
  });

  test('grpc.health.v1 Check and Watch say SERVING', async () => {
    const health = createClient(Health, createGrpcTransport({ baseUrl: system.gate.url }));
    expect((await health.check({ service: '' })).status).toBe(
      HealthCheckResponse_ServingStatus.SERVING,
    );
    const updates = [];
    for await (const update of health.watch({ service: 'fluxgate.v1.OrderGateService' })) {
      updates.push(update.status);
      break; // the first message is the current status; the stream then waits for changes
    }
    expect(updates).toEqual([HealthCheckResponse_ServingStatus.SERVING]);
  });
});
