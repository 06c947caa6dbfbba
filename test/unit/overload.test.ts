/**
 * The overload guard's decisions, by behaviour: the in-flight bound is exact, and the admitted
 * share follows the event-loop delay it is told about (halving while late, growing back by a
 * tenth while on time, never below its floor).
 */
import { describe, expect, test } from 'vitest';
import { OverloadGuard } from '../../src/admission/overload.js';

/** Offers `n` calls, each read at once when admitted; how many got in. */
function enterMany(guard: OverloadGuard, n: number): number {
  let admitted = 0;
  for (let i = 0; i < n; i++) {
    if (!guard.admits()) continue;
    guard.enter();
    admitted++;
  }
  return admitted;
}

describe('OverloadGuard', () => {
  test('admits exactly maxInFlight calls at once, and one more for each that leaves', () => {
    const guard = new OverloadGuard({ maxInFlight: 3, maxEventLoopDelayMs: 0 });
    expect(enterMany(guard, 10)).toBe(3);
    expect(guard.state().inFlight).toBe(3);
    guard.leave();
    expect(enterMany(guard, 10)).toBe(1);
  });

  test('a call admitted but not yet read holds no place', () => {
    const guard = new OverloadGuard({ maxInFlight: 1, maxEventLoopDelayMs: 0 });
    expect(guard.admits()).toBe(true);
    expect(guard.admits()).toBe(true);
    guard.enter();
    expect(guard.admits()).toBe(false);
  });

  test('a late event loop halves the admitted share per window; on time, it grows back', () => {
    // A fixed draw of 0.3 is admitted while the share is above 0.3.
    const guard = new OverloadGuard({ maxInFlight: 1000, maxEventLoopDelayMs: 20 }, () => 0.3);
    guard.observeDelay(21);
    expect(guard.state().admittedShare).toBe(0.5);
    expect(guard.admits()).toBe(true);
    guard.observeDelay(50);
    expect(guard.state().admittedShare).toBe(0.25);
    expect(guard.admits()).toBe(false);
    guard.observeDelay(5);
    expect(guard.state().admittedShare).toBeCloseTo(0.35);
    expect(guard.admits()).toBe(true);
    for (let i = 0; i < 10; i++) guard.observeDelay(0);
    expect(guard.state().admittedShare).toBe(1);
  });

  test('the share never falls below 1/32, so orders still get in during a long overload', () => {
    const guard = new OverloadGuard({ maxInFlight: 1000, maxEventLoopDelayMs: 20 }, () => 0.03);
    for (let i = 0; i < 50; i++) guard.observeDelay(500);
    expect(guard.state().admittedShare).toBe(1 / 32);
    expect(guard.admits()).toBe(true);
  });

  test('with the delay not watched (0), a late loop changes nothing', () => {
    const guard = new OverloadGuard({ maxInFlight: 1000, maxEventLoopDelayMs: 0 }, () => 0.99);
    guard.observeDelay(10_000);
    expect(guard.state().admittedShare).toBe(1);
    expect(enterMany(guard, 100)).toBe(100);
  });
});
