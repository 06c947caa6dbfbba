import { expect, test } from 'vitest';
import { decide, type IncomingOrder } from '../../src/domain/order-batch.js';

const incoming = (sku: string, quantity: number, i: number): IncomingOrder => ({
  order: {
    orderId: `id-${i}`,
    sku,
    quantity,
    customerId: 'c',
    idempotencyKeyHash: 'h',
    acceptedAtMs: 0,
    requestId: 'r',
  },
  partition: 0,
  offset: String(i),
});

test('orders are decided greedily in order, per sku, never below zero; unknown skus are rejected', () => {
  const orders = [
    incoming('A', 3, 1),
    incoming('A', 3, 2),
    incoming('B', 1, 3),
    incoming('A', 1, 4),
    incoming('Z', 1, 5),
  ];
  const decided = decide(
    orders,
    new Map([
      ['A', 4],
      ['B', 0],
    ]),
    new Date(0),
  );
  expect(decided.map((d) => [d.status, d.rejectReason])).toEqual([
    ['CONFIRMED', null],
    ['REJECTED', 'INSUFFICIENT_STOCK'],
    ['REJECTED', 'INSUFFICIENT_STOCK'],
    ['CONFIRMED', null],
    ['REJECTED', 'UNKNOWN_PRODUCT'],
  ]);
});
