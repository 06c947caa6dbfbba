/** Shutdown steps: a hanging or failing step is reported and passed over; the rest still run. */
import { describe, expect, test } from 'vitest';
import { shutDown } from '../../src/ops/shutdown.js';

describe('shutDown', () => {
  test('runs every step in order, passing over one that hangs or fails', async () => {
    const ran: string[] = [];
    const warnings: unknown[] = [];
    await shutDown(
      [
        ['first', () => ran.push('first')],
        ['hangs', () => new Promise(() => undefined)],
        ['fails', () => Promise.reject(new Error('broken'))],
        [
          'last',
          async () => {
            await new Promise((resolve) => setTimeout(resolve, 10));
            ran.push('last');
          },
        ],
      ],
      100,
      { warn: (fields: unknown) => warnings.push(fields) },
    );
    expect(ran).toEqual(['first', 'last']);
    expect(warnings).toEqual([
      { step: 'hangs', limitMs: 100 },
      expect.objectContaining({ step: 'fails' }),
    ]);
  });
});
