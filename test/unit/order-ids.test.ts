/** Order ids: UUIDv7 from a pool of random bytes, distinct across refills of the pool. */
import { validate, version } from 'uuid';
import { expect, test } from 'vitest';
import { createOrderIds } from '../../src/main-gate.js';

test('10,000 ids (40 refills of the pool) are valid, distinct UUIDv7s stamped with the time', () => {
  const next = createOrderIds();
  const before = Date.now();
  const ids = Array.from({ length: 10_000 }, next);
  const after = Date.now();
  expect(new Set(ids).size).toBe(ids.length);
  for (const id of ids) {
    expect(validate(id)).toBe(true);
    expect(version(id)).toBe(7);
    const ms = parseInt(id.replaceAll('-', '').slice(0, 12), 16);
    expect(ms).toBeGreaterThanOrEqual(before);
    expect(ms).toBeLessThanOrEqual(after);
  }
});
