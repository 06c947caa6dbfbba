import { describe, expect, test } from 'vitest';
import { createKeys } from '../../src/redis/keys.js';
import {
  completeOrderArgs,
  placeOrderArgs,
  releaseOrderArgs,
  scriptFiles,
  scriptSource,
  soldOutArgs,
  type ScriptName,
} from '../../src/redis/scripts.js';
import type { AcceptedOrder } from '../../src/domain/order.js';

const keys = createKeys('fg');
const order: AcceptedOrder = {
  orderId: '01920f4e-7a10-7cc3-9c1b-6f2d3e4a5b6c',
  sku: 'SKU-1',
  quantity: 2,
  customerId: 'alice',
  idempotencyKeyHash: 'a'.repeat(64),
  acceptedAtMs: 1_700_000_000_000,
  requestId: 'r1',
};
const reservation = { order, entryId: '1700000000000-0' };

const builders: Record<ScriptName, () => (string | number)[]> = {
  placeOrder: () =>
    placeOrderArgs(keys, order, 'f'.repeat(64), {
      idempotencyTtlMs: 1000,
      customerRate: 1,
      customerBurst: 2,
    }),
  soldOut: () => soldOutArgs(keys, order, 'f'.repeat(64), 1000),
  completeOrder: () => completeOrderArgs(keys, reservation),
  releaseOrder: () => releaseOrderArgs(keys, reservation),
};

describe.each(Object.keys(scriptFiles) as ScriptName[])('%s', (name) => {
  const source = scriptSource(name);
  const header = /--\[\[([\s\S]*?)\]\]/.exec(source)?.[1] ?? '';
  const declaredKeys = [...header.matchAll(/^\s*KEYS\[(\d+)\]/gm)].map((m) => Number(m[1]));
  const declaredArgs = [...header.matchAll(/^\s*ARGV\[(\d+)\]/gm)].map((m) => Number(m[1]));

  test('its header declares KEYS 1..n matching the registered key count', () => {
    expect(declaredKeys).toEqual(
      Array.from({ length: scriptFiles[name].numberOfKeys }, (_, i) => i + 1),
    );
  });

  test('its argument builder passes exactly the declared KEYS and ARGV', () => {
    expect(builders[name]()).toHaveLength(declaredKeys.length + declaredArgs.length);
  });

  test("every key it touches carries the sale's hash tag (one Redis Cluster slot)", () => {
    const passedKeys = builders[name]().slice(0, declaredKeys.length);
    for (const key of passedKeys) expect(String(key)).toContain('{SKU-1}');
  });

  test('its header lists the return values', () => {
    expect(header).toMatch(/Returns/);
  });
});
