import { describe, expect, test } from 'vitest';
import type { AcceptedOrder } from '../../src/domain/order.js';
import { createKeys } from '../../src/redis/keys.js';
import { scriptStatus } from '../../src/redis/codes.js';
import { entryStates } from '../../src/idempotency/states.js';
import {
  adjustStockArgs,
  completeOrdersArgs,
  leaseTokensArgs,
  queueStatusArgs,
  takeTicketsArgs,
  placeOrderArgs,
  reloadSaleArgs,
  restockArgs,
  restoreHoldingsArgs,
  scriptFiles,
  scriptSource,
  soldOutArgs,
  type ScriptArgs,
  type ScriptName,
} from '../../src/redis/scripts.js';

const keys = createKeys('fg');
const order: AcceptedOrder = {
  orderId: '01920f4e-7a10-7cc3-9c1b-6f2d3e4a5b6c',
  sku: 'SKU-1',
  quantity: 2,
  customerId: 'alice',
  idempotencyKeyHash: 'a'.repeat(64),
  acceptedAtMs: 1_700_000_000_000,
  requestId: 'r1',
};
const reservation = { order, entryId: '1700000000000-0' };
const twoReservations = [
  reservation,
  { order: { ...order, orderId: 'other' }, entryId: '1700000000000-1' },
];

/** Each script's arguments for a typical call, and how many KEYS and ARGV that call must have. */
const calls: Record<ScriptName, { args: ScriptArgs; keys: number; argv: number }> = {
  placeOrder: {
    args: placeOrderArgs(keys, order, 'f'.repeat(64), {
      idempotencyTtlMs: 1000,
      customerRate: 1,
      customerBurst: 2,
      outboxMaxEntries: 100,
      outboxMaxAgeMs: 60_000,
      queueTurnMs: 30_000,
    }),
    keys: 12,
    argv: 14,
  },
  leaseTokens: { args: leaseTokensArgs(keys, 'SKU-1', 16, 3), keys: 6, argv: 2 },
  takeTickets: { args: takeTicketsArgs(keys, 'SKU-1', 8, 'ab'), keys: 5, argv: 2 },
  queueStatus: {
    args: queueStatusArgs(keys, 'SKU-1', 30_000, 'ab', { position: 3, issuedAtMs: 0 }),
    keys: 6,
    argv: 4,
  },
  soldOut: { args: soldOutArgs(keys, order, 'f'.repeat(64), 1000), keys: 3, argv: 2 },
  completeOrders: { args: completeOrdersArgs(keys, twoReservations), keys: 1 + 2, argv: 2 * 2 },
  adjustStock: { args: adjustStockArgs(keys, 'SKU-1', 5, 100, 105), keys: 2, argv: 3 },
  restock: { args: restockArgs(keys, 'SKU-1', 105), keys: 3, argv: 1 },
  reloadSale: {
    args: reloadSaleArgs(
      keys,
      { name: 'Sale', total: 105 },
      {
        sale: {
          sku: 'SKU-1',
          name: 'Sale',
          totalStock: 105,
          perCustomerLimit: 2,
          startsAtMs: 0,
          endsAtMs: 1,
          admissionRate: 1,
          admissionBurst: 1,
          paused: false,
          preQueueLottery: false,
        },
        unitsLeft: 100,
        acceptedUnits: 5,
        holdings: new Map(),
        outboxEntryIds: ['1700000000000-0'],
      },
      [
        ['alice', 2],
        ['bob', 0],
      ],
    ),
    keys: 5 + 2,
    argv: 4 + 2,
  },
  restoreHoldings: {
    args: restoreHoldingsArgs(keys, 'SKU-1', [
      ['alice', 2],
      ['bob', 0],
    ]),
    keys: 2 + 2,
    argv: 2,
  },
};

/** Splits a call's arguments into KEYS and ARGV (a variable key count travels first). */
function split(name: ScriptName, args: ScriptArgs): { keys: ScriptArgs; argv: ScriptArgs } {
  const fixed = scriptFiles[name].numberOfKeys;
  const count = fixed ?? Number(args[0]);
  const rest = fixed === null ? args.slice(1) : args;
  return { keys: rest.slice(0, count), argv: rest.slice(count) };
}

describe.each(Object.keys(scriptFiles) as ScriptName[])('%s', (name) => {
  const source = scriptSource(name);
  const header = /--\[\[([\s\S]*?)\]\]/.exec(source)?.[1] ?? '';
  const declaredKeys = [...header.matchAll(/^\s*KEYS\[(\d+)\]/gm)].map((m) => Number(m[1]));
  const declaredArgs = [...header.matchAll(/^\s*ARGV\[(\d+)\]/gm)].map((m) => Number(m[1]));
  const fixed = scriptFiles[name].numberOfKeys;

  test('its header declares the KEYS that are registered', () => {
    // A variable count: the fixed KEYS first, then one range KEYS[f+1..n+f].
    if (fixed === null) {
      const range = /^\s*KEYS\[(\d+)\.\.n\+(\d+)\]/m.exec(header);
      expect(range).not.toBeNull();
      const first = Number(range?.[1]);
      expect(Number(range?.[2])).toBe(first - 1);
      expect(declaredKeys).toEqual(Array.from({ length: first - 1 }, (_, i) => i + 1));
    } else expect(declaredKeys).toEqual(Array.from({ length: fixed }, (_, i) => i + 1));
  });

  test('its argument builder passes the declared KEYS and ARGV', () => {
    const { keys: passedKeys, argv } = split(name, calls[name].args);
    expect([passedKeys.length, argv.length]).toEqual([calls[name].keys, calls[name].argv]);
    if (fixed !== null) expect(argv).toHaveLength(declaredArgs.length);
  });

  test("every key it touches carries the sale's hash tag (one Redis Cluster slot)", () => {
    for (const key of split(name, calls[name].args).keys) expect(String(key)).toContain('{SKU-1}');
  });

  test('its header lists the return values', () => {
    expect(header).toMatch(/Returns/);
  });

  test('its includes are expanded and every STATUS and STATE it names is defined once, in TypeScript', () => {
    expect(source).not.toMatch(/@include/);
    for (const [, name = ''] of source.matchAll(/\bSTATUS\.([A-Za-z_]+)/g))
      expect(Object.keys(scriptStatus)).toContain(name);
    for (const [, name = ''] of source.matchAll(/\bSTATE\.([A-Za-z_]+)/g))
      expect(Object.keys(entryStates)).toContain(name);
    // No state or status written as a literal: the names come from the prelude.
    expect(source.replace(/^local (STATUS|STATE) = .*$/gm, '')).not.toMatch(
      /'(RESERVED|COMPLETED|REFUSED)'/,
    );
  });
});
