/**
 * The rehearsal's arrival profiles: what the command line accepts, and when each buyer arrives
 * (all at once at 0; a ramp evenly over its seconds; Poisson gaps whose mean is 1/rate).
 */
import { describe, expect, test } from 'vitest';
import { arrivalTimes, formatProfile, parseProfile } from '../../src/rehearsal/profiles.js';

describe('parseProfile', () => {
  test.each(['all-at-once', 'ramp:10', 'ramp:0.5', 'poisson:250'])('%s round-trips', (text) => {
    expect(formatProfile(parseProfile(text))).toBe(text);
  });

  test.each([
    '',
    'ramp',
    'ramp:',
    'ramp:0',
    'ramp:-3',
    'poisson:abc',
    'poisson:1:2',
    'burst:5',
    'ramp:Infinity',
  ])('%j is refused, naming the forms', (text) => {
    expect(() => parseProfile(text)).toThrow(/all-at-once, ramp:<seconds> or poisson/);
  });
});

describe('arrivalTimes', () => {
  test('all at once: every buyer at 0', () => {
    expect(arrivalTimes({ kind: 'all-at-once' }, 5)).toEqual([0, 0, 0, 0, 0]);
  });

  test('a ramp spreads the buyers evenly over its seconds, the first at 0, all before its end', () => {
    const times = arrivalTimes({ kind: 'ramp', seconds: 2 }, 4);
    expect(times).toEqual([0, 500, 1000, 1500]);
  });

  test('Poisson: ascending, gaps from the random source by the inverse exponential', () => {
    const draws = [0.5, 0, 0.9];
    let i = 0;
    const times = arrivalTimes({ kind: 'poisson', ratePerSecond: 10 }, 3, () => draws[i++] ?? 0);
    const gap = (u: number) => (-Math.log(1 - u) / 10) * 1000;
    expect(times[0]).toBeCloseTo(gap(0.5), 9);
    expect(times[1]).toBeCloseTo(gap(0.5) + gap(0), 9);
    expect(times[2]).toBeCloseTo(gap(0.5) + gap(0) + gap(0.9), 9);
  });

  test('Poisson: over many buyers the mean rate is the one asked for', () => {
    // A fixed pseudo-random sequence (a linear congruential generator), so the test cannot flake.
    let seed = 42;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const buyers = 20_000;
    const times = arrivalTimes({ kind: 'poisson', ratePerSecond: 200 }, buyers, random);
    for (let k = 1; k < buyers; k++) expect(times[k]).toBeGreaterThanOrEqual(times[k - 1] ?? 0);
    const last = times[buyers - 1] ?? 0;
    // 20,000 arrivals at 200/s take about 100 s; the standard deviation is under 1 s.
    expect(last / 1000).toBeGreaterThan(97);
    expect(last / 1000).toBeLessThan(103);
  });
});
