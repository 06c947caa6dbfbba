/**
 * The circuit breaker and the guard of a dependency's port built on it: calls refused at once while open, with
 * the time to the next probe; one probe at a time; failures turned into refusals that say
 * whether the request may have taken effect.
 */
import { afterEach, describe, expect, test, vi } from 'vitest';
import { Refusal } from '../../src/domain/refusal.js';
import { CircuitOpenError, createBreaker } from '../../src/resilience/breaker.js';
import { dependencyFailure, guarded, redisUnsent } from '../../src/resilience/guard.js';

afterEach(() => {
  vi.useRealTimers();
});

const fail = () => Promise.reject(new Error('Command timed out'));

describe('breaker', () => {
  test('opens after the consecutive failures, refuses without calling, then one probe closes it', async () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const changes: boolean[] = [];
    const breaker = createBreaker({
      dependency: 'redis',
      failures: 2,
      probeAfterMs: 500,
      onChange: (open) => changes.push(open),
    });
    await expect(breaker.run(fail)).rejects.toThrow('Command timed out');
    expect(breaker.isOpen()).toBe(false);
    await expect(breaker.run(fail)).rejects.toThrow('Command timed out');
    expect(changes).toEqual([true]);
    expect(breaker.isOpen()).toBe(true);

    vi.setSystemTime(1_000_200);
    const call = vi.fn(() => Promise.resolve('ok'));
    const refused = await breaker.run(call).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(CircuitOpenError);
    expect((refused as CircuitOpenError).retryAfterMs).toBe(300);
    expect(call).not.toHaveBeenCalled();

    // Due to probe: the next call goes through; while it runs, others are refused, not queued.
    vi.setSystemTime(1_000_500);
    expect(breaker.isOpen()).toBe(false);
    let finishProbe!: (value: string) => void;
    const probe = breaker.run(
      () =>
        new Promise<string>((resolve) => {
          finishProbe = resolve;
        }),
    );
    await Promise.resolve();
    expect(breaker.isOpen()).toBe(true);
    await expect(breaker.run(call)).rejects.toBeInstanceOf(CircuitOpenError);
    expect(call).not.toHaveBeenCalled();
    finishProbe('ok');
    expect(await probe).toBe('ok');
    expect(changes).toEqual([true, false]);
    expect(await breaker.run(call)).toBe('ok');
  });

  test('a failed probe opens it again for another period', async () => {
    vi.useFakeTimers({ now: 0 });
    const breaker = createBreaker({ dependency: 'kafka', failures: 1, probeAfterMs: 1000 });
    await expect(breaker.run(fail)).rejects.toThrow();
    vi.setSystemTime(1000);
    await expect(breaker.run(fail)).rejects.toThrow('Command timed out');
    expect(breaker.retryAfterMs()).toBe(1000);
    expect(breaker.isOpen()).toBe(true);
  });
});

describe('guard', () => {
  const closed = createBreaker({ dependency: 'redis', failures: 100, probeAfterMs: 500 });
  const writes = { dependency: 'redis', outcome: 'unknown', unsent: redisUnsent } as const;

  test('an open circuit is DEPENDENCY_UNAVAILABLE with the time to the probe', () => {
    const refusal = dependencyFailure(new CircuitOpenError('redis', 420), closed, writes);
    expect(refusal).toMatchObject({
      reason: 'DEPENDENCY_UNAVAILABLE',
      facts: { dependency: 'redis', retryAfterMs: 420 },
    });
  });

  test('a call that may have run is OUTCOME_UNKNOWN for a writing port, unavailable for a reading one', () => {
    const timedOut = new Error('Command timed out');
    expect(dependencyFailure(timedOut, closed, writes).reason).toBe('OUTCOME_UNKNOWN');
    expect(dependencyFailure(timedOut, closed, { ...writes, outcome: 'none' }).reason).toBe(
      'DEPENDENCY_UNAVAILABLE',
    );
    // ioredis with no connection and no offline queue never sent the command.
    const unsent = new Error("Stream isn't writeable and enableOfflineQueue options is false");
    expect(dependencyFailure(unsent, closed, writes).reason).toBe('DEPENDENCY_UNAVAILABLE');
    // Every failure asks for a delay, at least the floor while the circuit is still closed.
    expect(dependencyFailure(timedOut, closed, writes).facts.retryAfterMs).toBe(250);
  });

  test('a guarded port passes answers and refusals through, and refuses once the circuit opens', async () => {
    const breaker = createBreaker({ dependency: 'redis', failures: 2, probeAfterMs: 60_000 });
    let up = true;
    const calls: string[] = [];
    const port = guarded(
      {
        async read(key: string) {
          calls.push(key);
          if (key === 'unknown-sku') throw new Refusal('SALE_NOT_FOUND', 'no such sale');
          if (!up) throw new Error('Command timed out');
          return `value of ${key}`;
        },
      },
      breaker,
      writes,
    );
    expect(await port.read('a')).toBe('value of a');
    up = false;
    await expect(port.read('b')).rejects.toMatchObject({ reason: 'OUTCOME_UNKNOWN' });
    // A refusal is the port's answer: passed through, and an answer from a live dependency (the
    // failures before it no longer count as consecutive).
    await expect(port.read('unknown-sku')).rejects.toMatchObject({ reason: 'SALE_NOT_FOUND' });
    await expect(port.read('c')).rejects.toMatchObject({ reason: 'OUTCOME_UNKNOWN' });
    await expect(port.read('d')).rejects.toMatchObject({ reason: 'OUTCOME_UNKNOWN' });
    const refused = await port.read('e').catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(Refusal);
    expect(refused).toMatchObject({ reason: 'DEPENDENCY_UNAVAILABLE' });
    expect(calls).toEqual(['a', 'b', 'unknown-sku', 'c', 'd']);
  });
});
