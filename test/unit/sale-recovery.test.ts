/**
 * A sale the live store lost: buyers are told to retry (never "not found" while the database
 * knows the sale), one reload runs however many buyers arrive, the database is asked once per
 * while, and an unknown sku is still SALE_NOT_FOUND.
 */
import { describe, expect, test } from 'vitest';
import { createSaleRecovery, type ReloadOutcome } from '../../src/domain/sale-recovery.js';

function setup(options: { known: string[]; reload?: 'loaded' | 'pending'; lockFree?: boolean }) {
  let now = 1_000_000;
  const asked: string[] = [];
  const reloads: string[] = [];
  const told: [string, ReloadOutcome][] = [];
  const recovery = createSaleRecovery({
    saleExists: async (sku) => {
      asked.push(sku);
      return options.known.includes(sku);
    },
    reload: async (sku) => {
      reloads.push(sku);
      return options.reload ?? 'loaded';
    },
    lock: async () => (options.lockFree === false ? undefined : async () => undefined),
    onReload: (sku, outcome) => told.push([sku, outcome]),
    retryAfterMs: 1000,
    now: () => now,
  });
  const settle = () => new Promise((resolve) => setTimeout(resolve, 0));
  return {
    recovery,
    asked,
    reloads,
    told,
    settle,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

describe('sale recovery', () => {
  test('a sale the database knows: SALE_STATE_RELOADING with a delay, and one reload for a crowd', async () => {
    const t = setup({ known: ['HOT'] });
    const refusals = await Promise.all(
      Array.from({ length: 20 }, () => t.recovery.refusalFor('HOT')),
    );
    expect(new Set(refusals.map((r) => r.reason))).toEqual(new Set(['SALE_STATE_RELOADING']));
    expect(refusals[0]?.facts.retryAfterMs).toBe(1000);
    await t.settle();
    expect(t.asked).toEqual(['HOT']);
    expect(t.reloads).toEqual(['HOT']);
    expect(t.told).toEqual([['HOT', 'loaded']]);
  });

  test('a reload waiting for the worker is tried again, at most every half second', async () => {
    const t = setup({ known: ['HOT'], reload: 'pending' });
    await t.recovery.refusalFor('HOT');
    await t.settle();
    t.advance(100);
    await t.recovery.refusalFor('HOT');
    await t.settle();
    expect(t.reloads).toEqual(['HOT']);
    t.advance(500);
    await t.recovery.refusalFor('HOT');
    await t.settle();
    expect(t.reloads).toEqual(['HOT', 'HOT']);
    expect(t.told.map(([, outcome]) => outcome)).toEqual(['pending', 'pending']);
  });

  test('another gate holding the lock: no reload here, buyers still told to retry', async () => {
    const t = setup({ known: ['HOT'], lockFree: false });
    expect((await t.recovery.refusalFor('HOT')).reason).toBe('SALE_STATE_RELOADING');
    await t.settle();
    expect(t.reloads).toEqual([]);
  });

  test('an sku the database does not know: SALE_NOT_FOUND, no reload, and asked again after a second', async () => {
    const t = setup({ known: [] });
    expect((await t.recovery.refusalFor('NOPE')).reason).toBe('SALE_NOT_FOUND');
    expect((await t.recovery.refusalFor('NOPE')).reason).toBe('SALE_NOT_FOUND');
    expect(t.asked).toEqual(['NOPE']);
    t.advance(1001);
    await t.recovery.refusalFor('NOPE');
    expect(t.asked).toEqual(['NOPE', 'NOPE']);
    await t.settle();
    expect(t.reloads).toEqual([]);
  });
});
