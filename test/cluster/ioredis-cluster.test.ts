/**
 * What the gate needs of ioredis's Cluster client and of the cluster itself, on the stack's
 * Redis Cluster (3 masters, 3 replicas; the `cluster` project runs this file):
 * - autopipelined scripts whose key count is passed per call go to their keys' node (the
 *   ioredis patch, patches/ioredis+6.0.0.patch; before it they failed in whole pipelines);
 * - the replication barrier (src/redis/replication.ts) resolves while the sale's replica keeps
 *   up, and fails while it does not: an order reserved then is not told "accepted", and a retry
 *   under the same key finds it once the replica is back.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, expect, test } from 'vitest';
import { connectRedis, duplicateRedis, masters } from '../../src/redis/client.js';
import { createReplicationBarrier, NotReplicatedError } from '../../src/redis/replication.js';
import { randomAcceptedOrder } from '../fixtures/orders.js';
import { clusterNodePid, slotNodesOf } from '../support/fault-load.js';
import { loadTestSale, testReservationStore, testSale } from '../support/sales.js';
import { dropTestData, isolatedConfig, redisFor } from '../support/stack.js';

const config = isolatedConfig();
const { redis, keys } = redisFor(config);
const stopped: number[] = [];

afterAll(async () => {
  for (const pid of stopped) process.kill(pid, 'SIGCONT');
  redis.disconnect();
  await dropTestData(config);
});

test('the stack runs a cluster: three masters, each with a replica', async () => {
  const cluster = connectRedis(config);
  try {
    expect(await cluster.cluster('INFO')).toMatch(/cluster_state:ok/);
    await cluster.ping();
    expect(masters(cluster)).toHaveLength(3);
    for (const sku of ['A', 'B', 'C'])
      expect((await slotNodesOf(cluster, keys.stock(sku))).replicas).toHaveLength(1);
  } finally {
    cluster.disconnect();
  }
});

test('autopipelined scripts with a per-call key count reach their keys’ node', async () => {
  const cluster = connectRedis(config, { enableAutoPipelining: true });
  cluster.defineCommand('countKeys', { lua: 'return #KEYS' });
  const countKeys = (cluster as unknown as Record<string, (...a: unknown[]) => Promise<number>>)
    .countKeys!;
  try {
    // 200 sales' keys, spread over every master, sent in the same turn of the event loop.
    const counts = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        countKeys.call(cluster, 2, keys.stock(`S${i}`), keys.outbox(`S${i}`)),
      ),
    );
    expect(counts).toEqual(Array.from({ length: 200 }, () => 2));
  } finally {
    cluster.disconnect();
  }
});

test('an order reserved while the replica lags is not told accepted; its retry finds it later', async () => {
  const sale = testSale('LAG-1', { totalStock: 10 });
  await loadTestSale(redis, keys, sale);
  const connection = duplicateRedis(redis);
  const barrier = createReplicationBarrier(connection, keys, 1, 100);
  const store = testReservationStore(redis, keys, {}, barrier);
  try {
    const before = randomAcceptedOrder(sale.sku, 1, 'early');
    expect((await store.reserve(before, randomUUID())).kind).toBe('reserved');

    const [replica] = (await slotNodesOf(redis, keys.stock(sale.sku))).replicas;
    const pid = clusterNodePid(replica!);
    process.kill(pid, 'SIGSTOP');
    stopped.push(pid);
    const order = randomAcceptedOrder(sale.sku, 1, 'late');
    const fingerprint = randomUUID();
    await expect(store.reserve(order, fingerprint)).rejects.toBeInstanceOf(NotReplicatedError);
    // The master has it (the script ran): the outcome was unknown, not a refusal.
    expect(Number(await redis.get(keys.stock(sale.sku)))).toBe(8);

    process.kill(pid, 'SIGCONT');
    stopped.pop();
    const retry = await store.reserve({ ...order, orderId: randomUUID() }, fingerprint);
    expect(retry.kind).toBe('replay-accepted');
    expect(retry.kind === 'replay-accepted' && retry.order.orderId).toBe(order.orderId);
  } finally {
    connection.disconnect();
  }
});
