/**
 * Per-customer limits survive a reload (issue 19, defect 7), with the compiled gate and worker
 * as separate processes: customers buy up to their limit, the worker records the orders, Redis
 * loses every key of the sales, Reconcile(repair) reloads them, and the customers at their
 * limit are still refused PURCHASE_LIMIT_REACHED while one below it may buy exactly the rest.
 * A REJECTED order gave its customer nothing, and does not count against the limit.
 */
import { randomUUID } from 'node:crypto';
import { expect, test } from 'vitest';
import { createFluxGateClient } from '../../src/client/node.js';
import { cleanUpAfterFile, envFor, spawnGate, spawnProcess } from '../support/processes.js';
import { createTestSale, testSale } from '../support/sales.js';
import { eventually, redisFor } from '../support/stack.js';
import { adminToken } from '../support/system.js';
import { reasonOf } from '../support/wire.js';

const cleanUp = cleanUpAfterFile();

test('after Redis loses the sales, Reconcile(repair) restores what each customer bought', async () => {
  const { config, gate, url } = await spawnGate();
  cleanUp.dropDataOf(config);
  const worker = spawnProcess('main-worker', envFor(config));
  cleanUp.track(gate, worker);
  await worker.waitFor(/"msg":"worker consuming"/);
  const { redis, keys } = redisFor(config);
  const client = createFluxGateClient({ baseUrl: url, adminToken });
  const place = (sku: string, customerId: string, quantity: number) =>
    client.orders.placeOrder({ sku, quantity, customerId, idempotencyKey: randomUUID() });
  /** The refusal reason of an order, or 'ACCEPTED'. */
  const outcome = (sku: string, customerId: string, quantity: number) =>
    place(sku, customerId, quantity).then(() => 'ACCEPTED', reasonOf);
  const recorded = (sku: string, confirmed: bigint, rejected: bigint) =>
    eventually(
      async () => {
        const { stats } = await client.admin.getSaleStats({ sku });
        return stats?.confirmed === confirmed && stats.rejected === rejected;
      },
      30_000,
      `the orders of ${sku} recorded`,
    );
  try {
    // LIMIT-1: 20 units, 3 per customer. alice and bob reach the limit, carol buys 1.
    await createTestSale(
      client.admin,
      testSale('LIMIT-1', { totalStock: 20, perCustomerLimit: 3 }),
    );
    await place('LIMIT-1', 'alice', 2);
    await place('LIMIT-1', 'alice', 1);
    await place('LIMIT-1', 'bob', 3);
    await place('LIMIT-1', 'carol', 1);
    expect(await outcome('LIMIT-1', 'alice', 1)).toBe('PURCHASE_LIMIT_REACHED');
    await recorded('LIMIT-1', 4n, 0n);

    // REJECT-1: 3 units, 3 per customer, and a live counter 3 units too high (drift), so the
    // gate accepts erin's order that the database then rejects: erin holds nothing.
    await createTestSale(
      client.admin,
      testSale('REJECT-1', { totalStock: 3, perCustomerLimit: 3 }),
    );
    await redis.incrby(keys.stock('REJECT-1'), 3);
    await place('REJECT-1', 'dave', 3);
    await recorded('REJECT-1', 1n, 0n);
    await place('REJECT-1', 'erin', 3);
    await recorded('REJECT-1', 1n, 1n);

    // Redis loses every key of both sales (the outboxes are drained: the orders are recorded).
    for (const sku of ['LIMIT-1', 'REJECT-1']) {
      expect(await redis.xlen(keys.outbox(sku))).toBe(0);
      await redis.del(...(await redis.keys(`${config.redisKeyPrefix}:{${sku}}:*`)));
    }
    for (const sku of ['LIMIT-1', 'REJECT-1']) {
      expect(await client.admin.reconcile({ sku, repair: true })).toMatchObject({
        liveUnits: -1n,
        repaired: true,
      });
    }

    expect((await client.inventory.getStock({ sku: 'LIMIT-1' })).stock?.unitsLeft).toBe(13n);
    expect(await outcome('LIMIT-1', 'alice', 1)).toBe('PURCHASE_LIMIT_REACHED');
    expect(await outcome('LIMIT-1', 'bob', 1)).toBe('PURCHASE_LIMIT_REACHED');
    expect(await outcome('LIMIT-1', 'carol', 3)).toBe('PURCHASE_LIMIT_REACHED');
    expect(await outcome('LIMIT-1', 'carol', 2)).toBe('ACCEPTED');
    expect(await outcome('LIMIT-1', 'carol', 1)).toBe('PURCHASE_LIMIT_REACHED');
    expect(await outcome('LIMIT-1', 'frank', 3)).toBe('ACCEPTED');

    // dave holds his 3; erin's rejected order does not count: with units back, she may buy 3.
    await client.restock({ sku: 'REJECT-1', units: 3 });
    expect(await outcome('REJECT-1', 'dave', 1)).toBe('PURCHASE_LIMIT_REACHED');
    expect(await outcome('REJECT-1', 'erin', 3)).toBe('ACCEPTED');

    await recorded('LIMIT-1', 6n, 0n);
    await recorded('REJECT-1', 2n, 1n);
    for (const sku of ['LIMIT-1', 'REJECT-1'])
      expect(await client.admin.reconcile({ sku, repair: false })).toMatchObject({ drift: 0n });
  } finally {
    redis.disconnect();
  }
});
