/**
 * Idempotency through real gates: concurrent duplicates, replays of answers and refusals, a key
 * reused for another request, the same key from another customer, the key in a header.
 */
import { Code, ConnectError, type Client } from '@connectrpc/connect';
import { beforeAll, describe, expect, test } from 'vitest';
import type { OrderGateService } from '../../gen/fluxgate/v1/order_gate_pb.js';
import { loadTestSale, testSale } from '../support/sales.js';
import { gatesForFile } from '../support/gates.js';
import { eventually } from '../support/stack.js';
import { reasonOf } from '../support/wire.js';

const { redis, keys, client: connectClient } = gatesForFile(2);

describe('idempotency', () => {
  const request = { sku: 'IDEM-1', quantity: 2, customerId: 'alice', idempotencyKey: 'idem-key-1' };
  let client: Client<typeof OrderGateService>;

  beforeAll(async () => {
    await loadTestSale(redis, keys, testSale('IDEM-1', { totalStock: 50 }));
    client = connectClient(0);
  });

  test('50 concurrent calls with one key make one reservation, and every one is answered with that order', async () => {
    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, i) => connectClient(i % 2).placeOrder(request)),
    );
    expect(new Set(answers.map((a) => a.orderId)).size).toBe(1);
    expect(await redis.get(keys.stock('IDEM-1'))).toBe('48');
  });

  test('a replay after completion returns the identical answer, marked idempotent-replayed', async () => {
    const headers: Headers[] = [];
    const first = await client.placeOrder(request, { onHeader: (h) => headers.push(h) });
    const again = await client.placeOrder(request, { onHeader: (h) => headers.push(h) });
    expect(again).toEqual(first);
    expect(headers.map((h) => h.get('idempotent-replayed'))).toEqual(['true', 'true']);
    expect(await redis.get(keys.stock('IDEM-1'))).toBe('48');
  });

  test('the same key with a different payload is IDEMPOTENCY_KEY_REUSED and changes nothing', async () => {
    const error = await client.placeOrder({ ...request, quantity: 3 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).code).toBe(Code.InvalidArgument);
    expect(reasonOf(error)).toBe('IDEMPOTENCY_KEY_REUSED');
    expect(await redis.get(keys.stock('IDEM-1'))).toBe('48');
  });

  test("another customer's request under the same key is a fresh decision: never the first customer's answer, never IDEMPOTENCY_KEY_REUSED", async () => {
    await loadTestSale(redis, keys, testSale('IDEM-3', { totalStock: 10 }));
    const alice = { ...request, sku: 'IDEM-3', idempotencyKey: 'shared-key' };
    const first = await client.placeOrder(alice);
    const headers: Headers[] = [];
    // The same payload but for bob, then a payload that would be a reuse were it alice's.
    const bob = await client.placeOrder(
      { ...alice, customerId: 'bob' },
      { onHeader: (h) => headers.push(h) },
    );
    const carol = await client.placeOrder(
      { ...alice, customerId: 'carol', quantity: 3 },
      { onHeader: (h) => headers.push(h) },
    );
    expect(new Set([first.orderId, bob.orderId, carol.orderId]).size).toBe(3);
    expect(headers.map((h) => h.get('idempotent-replayed'))).toEqual([null, null]);
    expect(await redis.get(keys.stock('IDEM-3'))).toBe(String(10 - 2 - 2 - 3));
    // Alice's own replay is still her answer.
    expect((await client.placeOrder(alice)).orderId).toBe(first.orderId);
  });

  test('the key may come in the idempotency-key header instead of the field', async () => {
    const viaHeader = { ...request, idempotencyKey: '' };
    const first = await client.placeOrder(viaHeader, {
      headers: { 'idempotency-key': 'header-key-1' },
    });
    const again = await client.placeOrder({ ...viaHeader, idempotencyKey: 'header-key-1' });
    expect(again.orderId).toBe(first.orderId);
  });

  test('a refusal the store gave is replayed too: same key after a restock still gets SOLD_OUT', async () => {
    await loadTestSale(redis, keys, testSale('IDEM-2', { totalStock: 1 }));
    // Sold out behind the gates' back: no gate has flagged the sale, so the script answers,
    // and stores the refusal against the key.
    await redis.set(keys.stock('IDEM-2'), 0);
    const big = { sku: 'IDEM-2', quantity: 2, customerId: 'bob', idempotencyKey: 'idem-key-2' };
    const first = await client.placeOrder(big).catch((e: unknown) => e);
    expect(reasonOf(first)).toBe('SOLD_OUT');
    expect((first as ConnectError).metadata.get('idempotent-replayed')).toBeNull();
    // Restocked and announced, as the admin API does: every retry is SOLD_OUT, and once the
    // gate has the notice (its sold-out flag dropped) the store replays the stored answer.
    await redis.set(keys.stock('IDEM-2'), 10);
    await redis.publish(keys.saleEventsChannel, 'IDEM-2');
    await eventually(async () => {
      const retry = await client.placeOrder(big).catch((e: unknown) => e);
      expect(reasonOf(retry)).toBe('SOLD_OUT');
      return (retry as ConnectError).metadata.get('idempotent-replayed') === 'true';
    }, 5000);
    expect(await redis.get(keys.stock('IDEM-2'))).toBe('10');
  });
});
