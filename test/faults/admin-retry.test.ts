/**
 * An admin answer that invites a retry must mean nothing happened (issue 19, defect 5), with the
 * compiled gate and worker as separate processes: a Restock while the sale's live counter is
 * lost and the worker is behind is recorded and answered as a success whose live reload is
 * pending; retried under the same key it adds nothing more; once the worker has caught up, the
 * same retry reloads the sale with the right units.
 */
import { randomUUID } from 'node:crypto';
import { Code, ConnectError } from '@connectrpc/connect';
import { expect, test } from 'vitest';
import { createFluxGateClient } from '../../src/client/node.js';
import { cleanUpAfterFile, envFor, exited, spawnGate, spawnProcess } from '../support/processes.js';
import { createTestSale, testSale } from '../support/sales.js';
import { eventually, redisFor } from '../support/stack.js';
import { adminToken } from '../support/system.js';
import { reasonOf } from '../support/wire.js';

const cleanUp = cleanUpAfterFile();

test('Restock with the counter lost and the worker behind: recorded once, pending, completed by a retry', async () => {
  const { config, gate, url } = await spawnGate();
  cleanUp.dropDataOf(config);
  cleanUp.track(gate);
  const startWorker = async () => {
    const worker = spawnProcess('main-worker', envFor(config));
    cleanUp.track(worker);
    await worker.waitFor(/"msg":"worker consuming"/);
    return worker;
  };
  const { redis, keys } = redisFor(config);
  const client = createFluxGateClient({ baseUrl: url, adminToken });
  const sku = 'RETRY-1';
  const place = (customerId: string, quantity: number) =>
    client.orders.placeOrder({ sku, quantity, customerId, idempotencyKey: randomUUID() });
  const totalStock = async () =>
    (await client.admin.listSales({})).sales.find((s) => s.sku === sku)?.totalStock;
  try {
    const worker = await startWorker();
    await createTestSale(client.admin, testSale(sku, { totalStock: 1500 }));
    for (const c of ['a', 'b', 'c', 'd', 'e']) await place(c, 2);
    await eventually(
      async () => (await client.admin.getSaleStats({ sku })).stats?.confirmed === 5n,
      30_000,
      'the first orders recorded',
    );

    // The worker falls behind: stopped, with an accepted order in Kafka it has not recorded.
    worker.child.kill('SIGTERM');
    expect(await exited(worker.child)).toBe(0);
    await place('f', 1);
    // Redis loses the sale's live counter.
    await redis.del(keys.stock(sku));

    const key = randomUUID();
    const first = await client.admin.restock({ sku, units: 100n, idempotencyKey: key });
    expect(first).toMatchObject({ liveReloadPending: true, replayed: false });
    expect(first.stock).toBeUndefined();
    expect(first.sale?.totalStock).toBe(1600n);

    // The retry the old answer invited: the same key adds nothing.
    const retry = await client.admin.restock({ sku, units: 100n, idempotencyKey: key });
    expect(retry).toMatchObject({ liveReloadPending: true, replayed: true });
    expect(await totalStock()).toBe(1600n);
    // The sale stays closed meanwhile (fails closed: no counter).
    const whileLost = await place('g', 1).catch((e: unknown) => e);
    expect(ConnectError.from(whileLost).code).toBe(Code.Unavailable);

    // The same key for another restock is refused, and changes nothing.
    const reused = await client.admin
      .restock({ sku, units: 5n, idempotencyKey: key })
      .catch((e: unknown) => ConnectError.from(e));
    expect(reused).toBeInstanceOf(ConnectError);
    expect(reasonOf(reused)).toBe('IDEMPOTENCY_KEY_REUSED');
    expect(await totalStock()).toBe(1600n);

    // The worker resumes; the same retry now reloads the sale, with the 100 units once.
    await startWorker();
    let done = retry;
    await eventually(
      async () => {
        done = await client.admin.restock({ sku, units: 100n, idempotencyKey: key });
        return !done.liveReloadPending;
      },
      60_000,
      'the reload once the worker has caught up',
    );
    expect(done.replayed).toBe(true);
    // 1,600 units, 11 sold (5 orders of 2, one of 1).
    expect(done.stock).toMatchObject({ unitsLeft: 1589n, totalStock: 1600n });
    expect((await client.inventory.getStock({ sku })).stock).toMatchObject({
      unitsLeft: 1589n,
      totalStock: 1600n,
    });
    expect(await totalStock()).toBe(1600n);
    expect(await client.admin.reconcile({ sku, repair: false })).toMatchObject({
      liveUnits: 1589n,
      databaseUnits: 1589n,
      drift: 0n,
    });

    // Retried again later: still nothing more, live or recorded.
    const late = await client.admin.restock({ sku, units: 100n, idempotencyKey: key });
    expect(late).toMatchObject({ liveReloadPending: false, replayed: true });
    expect(late.stock?.unitsLeft).toBe(1589n);
    // A new key is a new restock.
    const next = await client.restock({ sku, units: 10 });
    expect(next.response.stock).toMatchObject({ unitsLeft: 1599n, totalStock: 1610n });
    await place('g', 1);
  } finally {
    redis.disconnect();
  }
});
