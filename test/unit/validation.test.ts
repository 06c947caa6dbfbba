import { describe, expect, test } from 'vitest';
import { validatePlaceOrder, type PlaceOrderInput } from '../../src/domain/order.js';
import { Refusal } from '../../src/domain/refusal.js';
import { badInputs } from '../fixtures/bad-inputs.js';

const good: PlaceOrderInput = {
  sku: 'SKU-1',
  quantity: 1,
  customerId: 'alice',
  idempotencyKey: 'key-1',
  idempotencyKeyHeader: undefined,
};

describe('validatePlaceOrder', () => {
  test.each(badInputs)('%s -> INVALID_ARGUMENT on %s', (_, change, field) => {
    let caught: unknown;
    try {
      validatePlaceOrder({ ...good, ...change }, 10);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(Refusal);
    expect((caught as Refusal).reason).toBe('INVALID_ARGUMENT');
    expect((caught as Refusal).facts.field).toBe(field);
  });

  test('the key may come from the header alone, or from both when they agree', () => {
    expect(
      validatePlaceOrder({ ...good, idempotencyKey: '', idempotencyKeyHeader: 'h-1' }, 10)
        .idempotencyKey,
    ).toBe('h-1');
    expect(validatePlaceOrder({ ...good, idempotencyKeyHeader: 'key-1' }, 10).idempotencyKey).toBe(
      'key-1',
    );
  });

  test('the boundaries themselves are valid', () => {
    const max = {
      sku: 'A'.repeat(64),
      quantity: 10,
      customerId: 'c'.repeat(128),
      idempotencyKey: '~'.repeat(255),
    };
    expect(validatePlaceOrder({ ...good, ...max }, 10)).toEqual(max);
  });
});
