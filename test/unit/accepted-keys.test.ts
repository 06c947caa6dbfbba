/**
 * AcceptedKeys (src/admission/accepted-keys.ts) on an in-memory source: which requests of a
 * sold-out sale the gate may refuse without Redis, when it asks Redis again, and how its
 * refusals reach the sale's statistics.
 */
import { afterEach, beforeEach, expect, test, vi } from 'vitest';
import { AcceptedKeys, reportEveryMs } from '../../src/admission/accepted-keys.js';

/** A sale's accepted keys in memory; `complete: false` as after a reload. */
function source(keys: string[], complete = true) {
  const calls = { count: 0, members: 0 };
  const reported: [string, number][] = [];
  let failReports = 0;
  return {
    calls,
    reported,
    keys,
    failNextReports(n: number) {
      failReports = n;
    },
    port: {
      count: async () => {
        calls.count++;
        return keys.length + (complete ? 1 : 0);
      },
      members: async () => {
        calls.members++;
        return complete ? [...keys] : undefined;
      },
      reportRefusals: async (sku: string, refused: number) => {
        if (failReports > 0) {
          failReports--;
          throw new Error('redis down');
        }
        reported.push([sku, refused]);
      },
    },
  };
}

const settle = () => vi.advanceTimersByTimeAsync(0);

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

test('refuses only keys known to hold no accepted order; unknown until loaded', async () => {
  const redis = source(['a', 'b']);
  const keys = new AcceptedKeys(redis.port, () => undefined);
  expect(keys.refuses('S', 'x', 'SOLD_OUT')).toBe(false); // nothing loaded: the store decides
  keys.refresh('S');
  await settle();
  expect(keys.refuses('S', 'x', 'SOLD_OUT')).toBe(true);
  expect(keys.refuses('S', 'a', 'SOLD_OUT')).toBe(false); // a retry of an accepted order
  expect(keys.refuses('OTHER', 'x', 'SOLD_OUT')).toBe(false);
  expect(keys.refuses('S', 'y', 'SALE_ENDED')).toBe(true);
  expect(keys.refusals()).toEqual({ SOLD_OUT: 1, SALE_ENDED: 1 });
  keys.forget('S');
  expect(keys.refuses('S', 'x', 'SOLD_OUT')).toBe(false);
});

test('keys Redis does not hold completely (after a reload) are never used', async () => {
  const redis = source(['a'], false);
  const keys = new AcceptedKeys(redis.port, () => undefined);
  keys.refresh('S');
  await settle();
  expect(keys.refuses('S', 'x', 'SOLD_OUT')).toBe(false);
});

test('a refresh re-reads the keys only when their count changed', async () => {
  const redis = source(['a']);
  const keys = new AcceptedKeys(redis.port, () => undefined);
  keys.refresh('S');
  await settle();
  keys.refresh('S');
  await settle();
  expect(redis.calls).toEqual({ count: 2, members: 1 });
  redis.keys.push('b'); // accepted after a restock this gate did not see
  keys.refresh('S');
  await settle();
  expect(redis.calls.members).toBe(2);
  expect(keys.refuses('S', 'b', 'SOLD_OUT')).toBe(false);
});

test('sold-out refusals reach the statistics in one call per sale, and a failed report is retried', async () => {
  const redis = source([]);
  const errors: unknown[] = [];
  const keys = new AcceptedKeys(redis.port, (e) => errors.push(e));
  keys.refresh('S');
  keys.refresh('T');
  await settle();
  for (let i = 0; i < 5; i++) keys.refuses('S', `k${i}`, 'SOLD_OUT');
  keys.refuses('T', 'k', 'SOLD_OUT');
  keys.refuses('T', 'k2', 'SALE_ENDED'); // the statistics count no ended refusals
  expect(redis.reported).toEqual([]);
  redis.failNextReports(1);
  await vi.advanceTimersByTimeAsync(reportEveryMs);
  expect(errors).toHaveLength(1);
  await vi.advanceTimersByTimeAsync(reportEveryMs);
  expect(redis.reported.toSorted()).toEqual([
    ['S', 5],
    ['T', 1],
  ]);
});
