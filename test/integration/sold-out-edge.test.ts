/**
 * A closed sale refused at the edge (src/admission/accepted-keys.ts) through a real gate on
 * real Redis: once the gate knows a sold-out or ended sale's accepted keys, new requests are
 * refused without a script call, a retry of an accepted order still gets that order from Redis,
 * sold-out refusals are counted in the sale's statistics, and a restock is sold at once.
 */
import { randomUUID } from 'node:crypto';
import { expect, test } from 'vitest';
import { gatesForFile } from '../support/gates.js';
import { metricsPage, sumSamples } from '../support/metrics.js';
import { loadTestSale, testSale } from '../support/sales.js';
import { eventually } from '../support/stack.js';
import { reasonOf } from '../support/wire.js';

const { redis, keys, client: connectClient, opsUrl } = gatesForFile(1);

/**
 * Script calls the gate has made so far, every script, from its metrics (Redis's own command
 * counts would include the scripts of test files running beside this one).
 */
async function scriptCalls(): Promise<number> {
  return sumSamples(await metricsPage(opsUrl(0)), 'fluxgate_gate_redis_script_seconds_count');
}

/** Places orders with new keys until one is refused `reason` without a script call. */
async function untilRefusedAtEdge(
  place: (i: number) => Promise<unknown>,
  reason: string,
): Promise<number> {
  let n = 0;
  await eventually(async () => {
    const before = await scriptCalls();
    expect(reasonOf(await place(n++).catch((e: unknown) => e))).toBe(reason);
    return (await scriptCalls()) === before;
  }, 10_000);
  return n;
}

/**
 * `count` orders with new keys at once: every one is refused `reason`, and their script calls
 * stay within the 0.05 per refused request (the flag lives 1 s, and one request probes
 * Redis when it lapses: a call per second of the flood).
 */
async function expectRefusedAtEdge(
  count: number,
  place: (i: number) => Promise<unknown>,
  reason: string,
): Promise<void> {
  const before = await scriptCalls();
  const flood = await Promise.all(
    Array.from({ length: count }, (_, i) => place(i).catch((e: unknown) => e)),
  );
  expect(new Set(flood.map(reasonOf))).toEqual(new Set([reason]));
  expect((await scriptCalls()) - before).toBeLessThanOrEqual(0.05 * count);
}

test('a sold-out sale refuses new keys without Redis, and still gives a retry its order', async () => {
  const sku = 'EDGE-SOLD-1';
  await loadTestSale(redis, keys, testSale(sku, { totalStock: 3, perCustomerLimit: 1 }));
  const client = connectClient(0);
  const order = (customerId: string, idempotencyKey = randomUUID()) => ({
    sku,
    quantity: 1,
    customerId,
    idempotencyKey,
  });
  const bought = [order('a'), order('b'), order('c')];
  const accepted = [];
  for (const o of bought) accepted.push(await client.placeOrder(o));
  expect(await redis.get(keys.stock(sku))).toBe('0');
  expect(await redis.sismember(keys.acceptedKeys(sku), '*')).toBe(1);
  expect(await redis.scard(keys.acceptedKeys(sku))).toBe(4);

  // The gate flagged the sale with the last unit and loads its keys meanwhile: wait until a
  // refusal costs no script call.
  let n = await untilRefusedAtEdge((i) => client.placeOrder(order(`w${i}`)), 'SOLD_OUT');

  await expectRefusedAtEdge(200, (i) => client.placeOrder(order(`f${i}`)), 'SOLD_OUT');

  // The buyer whose answer was lost retries: Redis replays the order.
  const retry = await client.placeOrder(bought[1]!);
  expect(retry.orderId).toBe(accepted[1]!.orderId);

  // Every refusal is in the statistics (the script's and the edge's).
  const refused = n + 200;
  await eventually(
    async () => Number(await redis.hget(keys.stats(sku), 'sold_out')) === refused,
    5000,
    `${refused} sold-out refusals counted`,
  );

  // Restocked and announced: the next order is sold.
  await redis.set(keys.stock(sku), 2);
  await redis.publish(keys.saleEventsChannel, sku);
  await eventually(async () => {
    const placed = await client.placeOrder(order(`r${n++}`)).catch((e: unknown) => e);
    return reasonOf(placed) === undefined;
  }, 5000);
});

test('an ended sale refuses new keys without Redis, and still gives a retry its order', async () => {
  const sku = 'EDGE-ENDED-1';
  await loadTestSale(redis, keys, testSale(sku, { endsAtMs: Date.now() + 1500 }));
  const client = connectClient(0);
  const order = (customerId: string) => ({
    sku,
    quantity: 1,
    customerId,
    idempotencyKey: randomUUID(),
  });
  const early = order('early');
  const accepted = await client.placeOrder(early);
  await new Promise((resolve) => setTimeout(resolve, 1600));

  await untilRefusedAtEdge((i) => client.placeOrder(order(`w${i}`)), 'SALE_ENDED');
  await expectRefusedAtEdge(100, (i) => client.placeOrder(order(`f${i}`)), 'SALE_ENDED');
  expect((await client.placeOrder(early)).orderId).toBe(accepted.orderId);
});
