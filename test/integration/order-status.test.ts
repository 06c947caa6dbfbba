/**
 * Telling every buyer: an order watched from PENDING to its final status on every protocol,
 * the stock stream reaching zero, GetOrder's refusals, statistics that add up.
 */
import { Code, ConnectError, createClient } from '@connectrpc/connect';
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from '@connectrpc/connect-node';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { OrderStatus } from '../../gen/fluxgate/v1/order_pb.js';
import { OrderGateService } from '../../gen/fluxgate/v1/order_gate_pb.js';
import { SaleState } from '../../gen/fluxgate/v1/sale_pb.js';
import { createRedisOrderStore } from '../../src/redis/order-store.js';
import { testSale, upsertRequest } from '../support/sales.js';
import { eventually } from '../support/stack.js';
import { adminAuth, startSystem, type System } from '../support/system.js';
import { reasonOf } from '../support/wire.js';

let live: System;
beforeAll(async () => {
  live = await startSystem();
});
afterAll(async () => {
  await live.close();
});

test('a full sale: orders watched from PENDING to CONFIRMED, the stock stream reaching 0, statistics that add up', async () => {
  const created = await live.admin.upsertSale(
    upsertRequest(testSale('FLOW-1', { totalStock: 6 })),
    adminAuth,
  );
  expect(created.created).toBe(true);

  const stockUpdates: bigint[] = [];
  const states: SaleState[] = [];
  const stockStream = (async () => {
    for await (const { stock } of live.inventory.watchStock(
      { sku: 'FLOW-1' },
      { timeoutMs: 30_000 },
    )) {
      stockUpdates.push(stock!.unitsLeft);
      states.push(stock!.state);
    }
  })();
  // The watch's first message is the untouched stock; only then may orders race it.
  await eventually(async () => stockUpdates.length > 0, 10_000, 'the first stock update');

  // The worker can confirm an order before a watch of it starts: hold it back until the
  // watch has seen PENDING, so the watch must see the change.
  await live.stopWorker();
  const first = await live.place('FLOW-1', 'ann', 2);
  const seen: OrderStatus[] = [];
  const watching = (async () => {
    for await (const { order } of live.orders.watchOrder(
      { orderId: first.orderId },
      { timeoutMs: 30_000 },
    ))
      seen.push(order!.status);
  })();
  await eventually(async () => seen.length > 0, 10_000, 'the first order update');
  await live.startWorker();
  await watching;
  expect(seen).toEqual([OrderStatus.PENDING, OrderStatus.CONFIRMED]);

  await live.place('FLOW-1', 'bob', 3);
  await live.place('FLOW-1', 'cat', 1);
  const refused = await live.place('FLOW-1', 'dan', 1).catch((e: unknown) => e);
  expect(reasonOf(refused)).toBe('SOLD_OUT');
  await stockStream; // ends by itself once sold out
  expect(stockUpdates[0]).toBe(6n);
  expect(stockUpdates.at(-1)).toBe(0n);
  expect(states.at(-1)).toBe(SaleState.SOLD_OUT);
  expect([...stockUpdates].sort((a, b) => Number(b - a))).toEqual(stockUpdates); // never goes up

  const got = await live.orders.getOrder({ orderId: first.orderId });
  expect(got.order).toMatchObject({
    sku: 'FLOW-1',
    quantity: 2,
    customerId: 'ann',
    status: OrderStatus.CONFIRMED,
  });
  expect(got.order?.finalizedAt).toBeDefined();

  // Confirmations come from the worker; a sold-out refusal given at the edge is added to the
  // statistics within 100 ms (src/admission/accepted-keys.ts).
  await eventually(
    async () => {
      const { stats } = await live.admin.getSaleStats({ sku: 'FLOW-1' }, adminAuth);
      return stats?.confirmed === 3n && stats.soldOutRefusals === 1n;
    },
    30_000,
    'three confirmed, one sold-out refusal counted',
  );
  const { stats } = await live.admin.getSaleStats({ sku: 'FLOW-1' }, adminAuth);
  expect(stats).toMatchObject({
    accepted: 3n,
    confirmed: 3n,
    rejected: 0n,
    pending: 0n,
    soldOutRefusals: 1n,
    rateLimited: 0n,
    deadLettered: 0n,
  });

  const { sales } = await live.admin.listSales({}, adminAuth);
  expect(sales.map((s) => s.sku)).toContain('FLOW-1');
  const stock = await live.inventory.getStock({ sku: 'FLOW-1' });
  expect(stock.stock).toMatchObject({ unitsLeft: 0n, totalStock: 6n, state: SaleState.SOLD_OUT });

  const restocked = await live.admin.restock({ sku: 'FLOW-1', units: 4n }, adminAuth);
  expect(restocked.stock).toMatchObject({ unitsLeft: 4n, totalStock: 10n, state: SaleState.OPEN });
  await live.place('FLOW-1', 'dan', 1); // the sold-out flag was dropped by the restock
});

test('GetOrder: unknown id is not_found, a malformed id is invalid_argument', async () => {
  const missing = await live.orders
    .getOrder({ orderId: '01920f4e-7a10-7cc3-9c1b-6f2d3e4a5b6c' })
    .catch((e: unknown) => e);
  expect((missing as ConnectError).code).toBe(Code.NotFound);
  const malformed = await live.orders.getOrder({ orderId: 'not-an-id' }).catch((e: unknown) => e);
  expect((malformed as ConnectError).code).toBe(Code.InvalidArgument);
});

describe('WatchOrder', () => {
  test.each([
    ['Connect', (url: string) => createConnectTransport({ baseUrl: url, httpVersion: '1.1' })],
    ['gRPC', (url: string) => createGrpcTransport({ baseUrl: url })],
    ['gRPC-Web', (url: string) => createGrpcWebTransport({ baseUrl: url, httpVersion: '1.1' })],
  ])('over %s: streams to the final status and ends', async (_, transport) => {
    await live.admin
      .upsertSale(upsertRequest(testSale('WATCH-1', { totalStock: 100 })), adminAuth)
      .catch(() => undefined);
    const client = createClient(OrderGateService, transport(live.gate.url));
    const placed = await client.placeOrder({
      sku: 'WATCH-1',
      quantity: 1,
      customerId: 'w',
      idempotencyKey: randomUUID(),
    });
    const seen: OrderStatus[] = [];
    for await (const { order } of client.watchOrder(
      { orderId: placed.orderId },
      { timeoutMs: 30_000 },
    ))
      seen.push(order!.status);
    expect(seen.at(-1)).toBe(OrderStatus.CONFIRMED);
    expect(seen.filter((s) => s === OrderStatus.CONFIRMED)).toHaveLength(1);
  });

  test('a watch of an order that stays PENDING sends PENDING, then ends at its deadline', async () => {
    // An order the gate recorded but that never reaches the worker (no event was published).
    const order = {
      orderId: '01920f4e-7a10-7cc3-9c1b-000000000001',
      sku: 'WATCH-1',
      quantity: 1,
      customerId: 'stuck',
      idempotencyKeyHash: 'e'.repeat(64),
      acceptedAtMs: Date.now(),
      requestId: 'r',
    };
    await createRedisOrderStore(live.redis, live.keys, 60_000).remember(order);
    const seen: OrderStatus[] = [];
    const started = Date.now();
    const error = await (async () => {
      for await (const { order: o } of live.orders.watchOrder(
        { orderId: order.orderId },
        { timeoutMs: 700 },
      ))
        seen.push(o!.status);
    })().catch((e: unknown) => e);
    expect(seen).toEqual([OrderStatus.PENDING]);
    expect((error as ConnectError).code).toBe(Code.DeadlineExceeded);
    expect(Date.now() - started).toBeLessThan(5000);
  });
});
