/**
 * The replication barrier (src/redis/replication.ts) on a fake connection: one barrier serves
 * every order whose script finished before it started, an order never rides on a barrier that
 * began before its own write, and too few replicas in time is an error, not an acceptance.
 */
import { expect, test } from 'vitest';
import type { RedisClient } from '../../src/redis/client.js';
import { createKeys } from '../../src/redis/keys.js';
import { createReplicationBarrier, NotReplicatedError } from '../../src/redis/replication.js';

/** A connection whose pipelines (SET, WAIT) resolve when the test says, with `acks` replicas. */
function fakeConnection() {
  const barriers: { key: string; resolve: (acks: number | Error) => void }[] = [];
  const connection = {
    pipeline() {
      let key = '';
      const chain = {
        set(k: string) {
          key = k;
          return chain;
        },
        wait() {
          return chain;
        },
        exec: () =>
          new Promise((resolve) => {
            barriers.push({
              key,
              resolve: (acks) =>
                resolve(
                  acks instanceof Error
                    ? [
                        [null, 'OK'],
                        [acks, null],
                      ]
                    : [
                        [null, 'OK'],
                        [null, acks],
                      ],
                ),
            });
          }),
      };
      return chain;
    },
  };
  return { connection: connection as unknown as RedisClient, barriers };
}

const keys = createKeys('t');
const settle = () => new Promise((resolve) => setImmediate(resolve));

test('orders arriving while a barrier is in flight share the next one, which starts after it', async () => {
  const { connection, barriers } = fakeConnection();
  const barrier = createReplicationBarrier(connection, keys, 1, 100);
  const first = barrier.replicated('SKU-1');
  await settle();
  expect(barriers).toHaveLength(1);
  expect(barriers[0]!.key).toBe(keys.replicaBarrier('SKU-1'));

  // Written after the first barrier's SET: that barrier does not cover them.
  let laterDone = 0;
  const later = Array.from({ length: 10 }, () =>
    barrier.replicated('SKU-1').then(() => laterDone++),
  );
  await settle();
  expect(barriers).toHaveLength(1);

  barriers[0]!.resolve(1);
  await first;
  await settle();
  expect(laterDone).toBe(0);
  expect(barriers).toHaveLength(2);
  barriers[1]!.resolve(1);
  await Promise.all(later);
  expect(laterDone).toBe(10);
});

test('sales have barriers of their own', async () => {
  const { connection, barriers } = fakeConnection();
  const barrier = createReplicationBarrier(connection, keys, 1, 100);
  const a = barrier.replicated('SKU-A');
  const b = barrier.replicated('SKU-B');
  await settle();
  expect(barriers.map((x) => x.key).sort()).toEqual([
    keys.replicaBarrier('SKU-A'),
    keys.replicaBarrier('SKU-B'),
  ]);
  for (const x of barriers) x.resolve(1);
  await Promise.all([a, b]);
});

test('fewer replicas than asked, or a failed WAIT, is an error; the next barrier is new', async () => {
  const { connection, barriers } = fakeConnection();
  const barrier = createReplicationBarrier(connection, keys, 2, 100);
  const short = barrier.replicated('SKU-1');
  await settle();
  barriers[0]!.resolve(1);
  await expect(short).rejects.toBeInstanceOf(NotReplicatedError);

  const failed = barrier.replicated('SKU-1');
  await settle();
  barriers[1]!.resolve(new Error('connection lost'));
  await expect(failed).rejects.toThrow('connection lost');

  const fine = barrier.replicated('SKU-1');
  await settle();
  expect(barriers).toHaveLength(3);
  barriers[2]!.resolve(2);
  await expect(fine).resolves.toBeUndefined();
});
