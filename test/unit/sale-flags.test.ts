/**
 * SaleFlags (src/admission/sale-flags.ts): a flag lives its ttl; when it lapses one request
 * probes Redis while the others are still refused, and the probe's answer renews or clears it.
 */
import { expect, test } from 'vitest';
import { SaleFlags } from '../../src/admission/sale-flags.js';

test('a lapsed flag lets one probe through, keeps refusing the rest, and is renewed by its answer', () => {
  let now = 0;
  const flags = new SaleFlags(1000, () => now);
  expect(flags.has('S')).toBe(false);
  expect(flags.set('S')).toBe(true); // new
  expect(flags.set('S')).toBe(false); // already live
  now = 999;
  expect(flags.has('S')).toBe(true);
  now = 1000;
  expect(flags.has('S')).toBe(false); // the probe
  expect(flags.has('S')).toBe(true); // the others, while it is out
  expect(flags.count()).toBe(1);
  expect(flags.set('S')).toBe(true); // renewed by the probe: the caller refreshes what it holds
  now = 1999;
  expect(flags.has('S')).toBe(true);
});

test('a probe that never answers is replaced after a ttl; clear drops the flag at once', () => {
  let now = 0;
  const flags = new SaleFlags(1000, () => now);
  flags.set('S');
  now = 1000;
  expect(flags.has('S')).toBe(false); // a probe that fails (Redis away) and sets nothing
  now = 1999;
  expect(flags.has('S')).toBe(true);
  now = 2000;
  expect(flags.has('S')).toBe(false); // the next probe
  flags.clear('S'); // its answer: the sale is open again
  expect(flags.has('S')).toBe(false);
  expect(flags.has('S')).toBe(false);
  expect(flags.count()).toBe(0);
});
