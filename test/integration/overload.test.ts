/**
 * Overload shedding at the gate: past FLUXGATE_MAX_ORDERS_IN_FLIGHT a PlaceOrder call is refused
 * unavailable GATE_OVERLOADED, with a retry delay, on every protocol, before it is read: nothing
 * changes in Redis, and the same key retried later is a fresh order. The orders in flight are
 * held by a proxy that stops the gate's Redis traffic (the real Redis stays untouched for other
 * tests), so the bound is reached by behaviour, not by timing.
 */
import { ConnectError, Code, createClient, type Transport } from '@connectrpc/connect';
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from '@connectrpc/connect-node';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { OrderGateService } from '../../gen/fluxgate/v1/order_gate_pb.js';
import { RetryInfoSchema } from '../../gen/google/rpc/error_details_pb.js';
import { runMigrations } from '../../src/main-migrate.js';
import { startGate, type RunningGate } from '../../src/main-gate.js';
import { sample } from '../support/metrics.js';
import { loadTestSale, testSale } from '../support/sales.js';
import {
  dropTestData,
  eventually,
  isolatedConfig,
  redisFor,
  redisSnapshot,
} from '../support/stack.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import { reasonOf } from '../support/wire.js';

const sku = 'SHED-1';
const base = isolatedConfig();
const { redis, keys } = redisFor(base);
let proxy: TcpProxy;
let gate: RunningGate;

beforeAll(async () => {
  await runMigrations(base);
  await loadTestSale(redis, keys, testSale(sku, { totalStock: 10 }));
  proxy = await startTcpProxy(Number(new URL(base.redisUrl).port));
  gate = await startGate({
    ...base,
    redisUrl: `redis://127.0.0.1:${String(proxy.port)}`,
    maxOrdersInFlight: 2,
    maxEventLoopDelayMs: 0,
    // The held orders wait for Redis longer than usual: not a hung Redis.
    redisCommandTimeoutMs: 30_000,
    // Its lock key would change the snapshots on its own timer.
    outboxRelayIntervalMs: 600_000,
  });
});

afterAll(async () => {
  proxy.setMode({ kind: 'pass' });
  await gate.close();
  await proxy.close();
  redis.disconnect();
  await dropTestData(base);
});

const transports: [string, (baseUrl: string) => Transport][] = [
  ['Connect', (baseUrl) => createConnectTransport({ baseUrl, httpVersion: '1.1' })],
  ['gRPC', (baseUrl) => createGrpcTransport({ baseUrl })],
  ['gRPC-Web', (baseUrl) => createGrpcWebTransport({ baseUrl, httpVersion: '1.1' })],
];

const order = (customerId: string, idempotencyKey: string) => ({
  sku,
  quantity: 1,
  customerId,
  idempotencyKey,
});

async function ordersInFlight(): Promise<number> {
  const page = await (await fetch(`${gate.opsUrl}/metrics`)).text();
  return sample(page, 'fluxgate_gate_orders_in_flight');
}

test('past the in-flight bound an order is refused GATE_OVERLOADED with a retry delay on every protocol, and changes nothing', async () => {
  const connect = createClient(OrderGateService, transports[0]![1](gate.url));
  proxy.setMode({ kind: 'blackhole' });
  const held = [
    connect.placeOrder(order('held-1', 'held-key-1')),
    connect.placeOrder(order('held-2', 'held-key-2')),
  ];
  await eventually(async () => (await ordersInFlight()) === 2, 10_000, 'two orders in flight');

  const before = await redisSnapshot(redis, base.redisKeyPrefix);
  for (const [name, transport] of transports) {
    const client = createClient(OrderGateService, transport(gate.url));
    const error = await client.placeOrder(order('shed', 'shed-key')).then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    expect(error?.code, name).toBe(Code.Unavailable);
    expect(reasonOf(error), name).toBe('GATE_OVERLOADED');
    const delay = error?.findDetails(RetryInfoSchema)[0]?.retryDelay;
    expect(Number(delay?.seconds ?? 0) * 1000 + (delay?.nanos ?? 0) / 1e6, name).toBeGreaterThan(0);
    expect(Number(error?.metadata.get('retry-after')), name).toBeGreaterThanOrEqual(1);
  }
  expect(await redisSnapshot(redis, base.redisKeyPrefix)).toEqual(before);

  // The held orders go through once Redis answers again, and free their places.
  proxy.setMode({ kind: 'pass' });
  const accepted = await Promise.all(held);
  expect(accepted.map((a) => a.orderId)).toHaveLength(2);
  await eventually(async () => (await ordersInFlight()) === 0, 10_000, 'no order in flight');

  // Nothing was stored for the shed key: the same request now is a fresh order, not a replay.
  let replayed: string | null = 'unset';
  const retried = await connect.placeOrder(order('shed', 'shed-key'), {
    onHeader: (h) => {
      replayed = h.get('idempotent-replayed');
    },
  });
  expect(retried.orderId).not.toBe('');
  expect(replayed).toBeNull();
  expect(await redis.get(keys.stock(sku))).toBe('7');
});

test('the shed calls are counted as GATE_OVERLOADED', async () => {
  const page = await (await fetch(`${gate.opsUrl}/metrics`)).text();
  expect(
    sample(page, 'fluxgate_gate_requests_total', {
      rpc: 'OrderGateService.PlaceOrder',
      outcome: 'GATE_OVERLOADED',
    }),
  ).toBe(3);
});
