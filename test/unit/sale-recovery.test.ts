/**
 * A sale the live store lost: buyers are told to retry (never "not found" while the database
 * knows the sale), one reload runs however many buyers arrive, the database is asked once per
 * while, and an unknown sku is still SALE_NOT_FOUND.
 */
import { describe, expect, test } from 'vitest';
import { createSaleRecovery, type ReloadOutcome } from '../../src/domain/sale-recovery.js';

function setup(options: { known: string[]; reload?: 'loaded' | 'pending'; lockFree?: boolean }) {
  let now = 1_000_000;
  /** When the database's skus were listed. */
  const asked: number[] = [];
  const reloads: string[] = [];
  const told: [string, ReloadOutcome][] = [];
  const recovery = createSaleRecovery({
    listSkus: async () => {
      asked.push(now);
      return options.known;
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
    expect(t.asked).toHaveLength(1);
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

  test('an sku the database does not know: SALE_NOT_FOUND, no reload, and the list read again after a second', async () => {
    const t = setup({ known: ['HOT'] });
    expect((await t.recovery.refusalFor('NOPE')).reason).toBe('SALE_NOT_FOUND');
    expect((await t.recovery.refusalFor('NOPE')).reason).toBe('SALE_NOT_FOUND');
    expect(t.asked).toHaveLength(1);
    t.advance(1001);
    await t.recovery.refusalFor('NOPE');
    expect(t.asked).toHaveLength(2);
    await t.settle();
    expect(t.reloads).toEqual([]);
  });

  test('a flood of made-up skus costs the database one read, not one per sku', async () => {
    const t = setup({ known: ['HOT'] });
    const refusals = await Promise.all(
      Array.from({ length: 1000 }, (_, i) => t.recovery.refusalFor(`BOT-${String(i)}`)),
    );
    expect(new Set(refusals.map((r) => r.reason))).toEqual(new Set(['SALE_NOT_FOUND']));
    expect(t.asked).toHaveLength(1);
    // A known sale is trusted for longer: still no new read after a second.
    t.advance(1500);
    expect((await t.recovery.refusalFor('HOT')).reason).toBe('SALE_STATE_RELOADING');
    expect(t.asked).toHaveLength(1);
  });
});
