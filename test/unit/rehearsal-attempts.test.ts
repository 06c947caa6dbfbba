/** The rehearsal's bound on attempts in flight: at most N at once, a buyer's retry before first tries. */
import { describe, expect, test } from 'vitest';
import { attemptQueue } from '../../src/rehearsal/attempts.js';

describe('attemptQueue', () => {
  test('a retry starts before first tries that were waiting before it', async () => {
    const queue = attemptQueue(1);
    const started: string[] = [];
    let release: () => void = () => undefined;
    const blocked = queue.run('a', async () => {
      started.push('a');
      await new Promise<void>((resolve) => (release = resolve));
    });
    const rest = [
      queue.run('b', async () => void started.push('b')),
      queue.run('c', async () => void started.push('c')),
      queue.run('a', async () => void started.push('a again')),
    ];
    await new Promise((resolve) => setImmediate(resolve));
    expect(started).toEqual(['a']); // one place: the others wait
    release();
    await Promise.all([blocked, ...rest]);
    expect(started).toEqual(['a', 'a again', 'b', 'c']);
  });

  test('never more than its places at once, and every attempt runs', async () => {
    const queue = attemptQueue(3);
    let running = 0;
    let most = 0;
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        queue.run(`k${String(i % 20)}`, async () => {
          most = Math.max(most, ++running);
          await new Promise((resolve) => setImmediate(resolve));
          running--;
          return i;
        }),
      ),
    );
    expect(most).toBe(3);
    expect(results).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });
});
