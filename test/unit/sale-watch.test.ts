/**
 * The console's live figures below the gate: rates from two reads' counters, a read shared for
 * its interval (and not kept when it failed), the wait of a queue at its rate, and watchers of
 * one sale sharing one poll.
 */
import { describe, expect, test } from 'vitest';
import type { SaleStats } from '../../src/domain/admin.js';
import {
  SaleWatch,
  createFigureReader,
  sharedFor,
  withRates,
  type SaleFigures,
} from '../../src/domain/sale-watch.js';
import { testSale } from '../support/sales.js';

const counters = (accepted: number, soldOut: number, rateLimited: number): SaleStats => ({
  accepted,
  acceptedUnits: accepted,
  soldOut,
  rateLimited,
  replays: 0,
  deadLettered: 0,
  pending: 0,
  confirmed: accepted,
  rejected: 0,
});

const figures = (stats: SaleStats, readAtMs: number): SaleFigures => ({
  stats,
  stock: { sale: testSale('U-1'), unitsLeft: 10, state: 'OPEN' },
  queueLength: 0,
  estimatedWaitMs: 0,
  outboxDepth: 0,
  consumerLag: 0,
  readAtMs,
});

describe('withRates', () => {
  test('the first read has no rates; the next, the change per second', () => {
    const first = figures(counters(10, 2, 3), 1000);
    expect(withRates(first, undefined)).toMatchObject({ admissionRate: 0, refusalRate: 0 });
    const next = withRates(figures(counters(16, 4, 7), 3000), first);
    expect(next).toMatchObject({ admissionRate: 3, refusalRate: 3 });
  });
});

describe('sharedFor', () => {
  test('callers within the interval share one read; a failed read is read again', async () => {
    let now = 0;
    let calls = 0;
    let fail = false;
    const read = sharedFor(
      1000,
      () => now,
      async () => {
        calls++;
        if (fail) throw new Error('down');
        return calls;
      },
    );
    expect(await Promise.all([read(), read()])).toEqual([1, 1]);
    now = 999;
    expect(await read()).toBe(1);
    now = 1000;
    fail = true;
    await expect(read()).rejects.toThrow('down');
    fail = false;
    expect(await read()).toBe(3);
    expect(calls).toBe(3);
  });
});

describe('createFigureReader', () => {
  test('the queue’s wait is its people at the admission rate; no queue, no wait', async () => {
    let queue: { waiting: number; rate: number } | undefined = { waiting: 30, rate: 20 };
    const read = createFigureReader(
      {
        stats: async () => counters(1, 0, 0),
        stock: async () => ({ sale: testSale('U-1'), unitsLeft: 9, state: 'OPEN' }),
        queue: async () => queue,
        outboxDepth: async () => 2,
        consumerLag: async () => 4,
        now: () => 5000,
      },
      1000,
    );
    expect(await read('U-1')).toMatchObject({
      queueLength: 30,
      estimatedWaitMs: 1500,
      outboxDepth: 2,
      consumerLag: 4,
      readAtMs: 5000,
    });
    queue = undefined;
    expect(await read('U-1')).toMatchObject({ queueLength: 0, estimatedWaitMs: 0 });
  });

  test('a lag that cannot be read is -1, and the other figures still come', async () => {
    const read = createFigureReader(
      {
        stats: async () => counters(1, 0, 0),
        stock: async () => ({ sale: testSale('U-1'), unitsLeft: 9, state: 'OPEN' }),
        queue: async () => undefined,
        outboxDepth: async () => 2,
        consumerLag: () => Promise.reject(new Error('kafka down')),
        now: () => 5000,
      },
      1000,
    );
    expect(await read('U-1')).toMatchObject({ consumerLag: -1, outboxDepth: 2 });
  });
});

describe('SaleWatch', () => {
  test('watchers of a sale share its reads; an unknown sale ends the watch with the error', async () => {
    const reads: string[] = [];
    const watch = new SaleWatch(
      async (sku) => {
        reads.push(sku);
        if (sku === 'NONE') throw new Error('no sale with sku NONE');
        return figures(counters(reads.length, 0, 0), reads.length * 1000);
      },
      { pollMs: 10 },
    );
    const end = new AbortController();
    const firsts = await Promise.all(
      [1, 2, 3].map(async () => {
        const next = await watch.watch('U-1', end.signal).next();
        return next.done === true ? undefined : next.value;
      }),
    );
    // Three watchers, one read: each saw the same figures.
    expect(firsts.map((f) => f?.readAtMs)).toEqual([1000, 1000, 1000]);
    expect(reads).toEqual(['U-1']);
    end.abort();
    await expect(watch.watch('NONE', new AbortController().signal).next()).rejects.toThrow(
      'no sale with sku NONE',
    );
    watch.close();
  });
});
