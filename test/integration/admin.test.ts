/** Running a sale: the admin guard, bad admin input, pause and resume. */
import { Code, ConnectError } from '@connectrpc/connect';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { OrderStatus } from '../../gen/fluxgate/v1/order_pb.js';
import { SaleState } from '../../gen/fluxgate/v1/sale_pb.js';
import { ErrorInfoSchema } from '../../gen/google/rpc/error_details_pb.js';
import { testSale, upsertRequest } from '../support/sales.js';
import { redisSnapshot } from '../support/stack.js';
import { adminAuth, adminToken, startSystem, type System } from '../support/system.js';
import { reasonOf } from '../support/wire.js';

let live: System;
beforeAll(async () => {
  live = await startSystem();
});
afterAll(async () => {
  await live.close();
});

describe('admin guard', () => {
  const calls: [string, (options: { headers?: Record<string, string> }) => Promise<unknown>][] = [
    [
      'UpsertSale',
      (o) => live.admin.upsertSale(upsertRequest(testSale('GUARD-1', { totalStock: 10 })), o),
    ],
    ['Restock', (o) => live.admin.restock({ sku: 'GUARD-0', units: 5n }, o)],
    ['PauseSale', (o) => live.admin.pauseSale({ sku: 'GUARD-0' }, o)],
    ['ResumeSale', (o) => live.admin.resumeSale({ sku: 'GUARD-0' }, o)],
    ['ListSales', (o) => live.admin.listSales({}, o)],
    ['GetSaleStats', (o) => live.admin.getSaleStats({ sku: 'GUARD-0' }, o)],
    ['Reconcile', (o) => live.admin.reconcile({ sku: 'GUARD-0', repair: true }, o)],
  ];

  beforeAll(async () => {
    await live.admin.upsertSale(upsertRequest(testSale('GUARD-0', { totalStock: 10 })), adminAuth);
  });

  test.each(calls)(
    '%s without a token, or with a wrong one, is unauthenticated and changes nothing',
    async (_, call) => {
      const before = await redisSnapshot(live.redis, live.config.redisKeyPrefix);
      const beforeSales = (await live.admin.listSales({}, adminAuth)).sales;
      for (const headers of [
        undefined,
        { authorization: 'Bearer wrong-token-0123456789' },
        { authorization: adminToken },
      ]) {
        const error = await call({ headers }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(ConnectError);
        expect((error as ConnectError).code).toBe(Code.Unauthenticated);
      }
      expect((await live.admin.listSales({}, adminAuth)).sales).toEqual(beforeSales);
      const after = await redisSnapshot(live.redis, live.config.redisKeyPrefix);
      for (const [key, value] of before)
        if (key.includes('{GUARD-')) expect(after.get(key)).toBe(value);
      expect([...after.keys()].filter((k) => k.includes('{GUARD-1}'))).toEqual([]);
    },
  );
});

test('pause refuses orders with SALE_PAUSED until resume; the stock shows PAUSED meanwhile', async () => {
  await live.admin.upsertSale(upsertRequest(testSale('PAUSE-1', { totalStock: 10 })), adminAuth);
  expect((await live.admin.pauseSale({ sku: 'PAUSE-1' }, adminAuth)).sale?.paused).toBe(true);
  expect(reasonOf(await live.place('PAUSE-1', 'a').catch((e: unknown) => e))).toBe('SALE_PAUSED');
  expect((await live.inventory.getStock({ sku: 'PAUSE-1' })).stock?.state).toBe(SaleState.PAUSED);
  expect((await live.admin.resumeSale({ sku: 'PAUSE-1' }, adminAuth)).sale?.paused).toBe(false);
  expect((await live.place('PAUSE-1', 'a')).status).toBe(OrderStatus.PENDING);
});

test('bad admin input is invalid_argument, naming the field, and changes nothing', async () => {
  await live.admin.upsertSale(
    upsertRequest(testSale('ADMIN-BAD-1', { totalStock: 10 })),
    adminAuth,
  );
  const cases: [string, () => Promise<unknown>, string][] = [
    [
      'ends before it starts',
      () =>
        live.admin.upsertSale(
          upsertRequest(testSale('ADMIN-BAD-2', { totalStock: 10, endsAtMs: Date.now() - 5000 })),
          adminAuth,
        ),
      'sale.ends_at',
    ],
    [
      'no total stock',
      () =>
        live.admin.upsertSale(upsertRequest(testSale('ADMIN-BAD-2', { totalStock: 0 })), adminAuth),
      'sale.total_stock',
    ],
    [
      'changing total stock of an existing sale',
      () =>
        live.admin.upsertSale(
          upsertRequest(testSale('ADMIN-BAD-1', { totalStock: 99 })),
          adminAuth,
        ),
      'sale.total_stock',
    ],
    [
      'bad sku',
      () =>
        live.admin.upsertSale(upsertRequest(testSale('bad sku', { totalStock: 10 })), adminAuth),
      'sale.sku',
    ],
    [
      'restock of zero units',
      () => live.admin.restock({ sku: 'ADMIN-BAD-1', units: 0n }, adminAuth),
      'units',
    ],
  ];
  for (const [what, call, field] of cases) {
    const error = await call().catch((e: unknown) => e);
    expect((error as ConnectError).code, what).toBe(Code.InvalidArgument);
    expect((error as ConnectError).findDetails(ErrorInfoSchema)[0]?.metadata.field, what).toBe(
      field,
    );
  }
  expect((await live.inventory.getStock({ sku: 'ADMIN-BAD-1' })).stock).toMatchObject({
    unitsLeft: 10n,
    totalStock: 10n,
  });
  expect((await live.admin.listSales({}, adminAuth)).sales.map((s) => s.sku)).not.toContain(
    'ADMIN-BAD-2',
  );
  const unknown = await live.admin
    .restock({ sku: 'NO-SUCH-SALE', units: 1n }, adminAuth)
    .catch((e: unknown) => e);
  expect((unknown as ConnectError).code).toBe(Code.NotFound);
});
