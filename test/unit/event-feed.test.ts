/**
 * The gate's event feed at start-up, against a scripted Redis that answers every command 100 ms
 * late, as a loaded machine does: each of the subscriber's set-up round trips (HELLO, the two
 * CLIENT SETINFO, INFO) is well within the command timeout, but all of them together are not.
 * ioredis starts a command's timeout when the command is queued, not when it is written, so a
 * SUBSCRIBE issued while the connection is still being set up timed out ("Command timed out")
 * and start-up failed with it; the feed now subscribes once the connection is ready.
 */
import { Redis } from 'ioredis';
import { afterEach, expect, test } from 'vitest';
import { createEventFeed } from '../../src/redis/event-feed.js';
import { createKeys } from '../../src/redis/keys.js';
import { startFakeRedis, type FakeRedis } from '../support/fake-redis.js';

const keys = createKeys('test:');
const opened: { close(): Promise<void> | void }[] = [];

afterEach(async () => {
  for (const closable of opened.splice(0).reverse()) await closable.close();
});

/** The gate's main client's options (src/main-gate.ts), with a 250 ms command timeout. */
const gateOptions = {
  enableAutoPipelining: true,
  maxRetriesPerRequest: 1,
  enableOfflineQueue: false,
  commandTimeout: 250,
} as const;

/** The gate's subscriber (src/main-gate.ts): a duplicate of its main client, with an offline queue. */
function subscriberOf(server: FakeRedis): Redis {
  const main = new Redis(server.url, gateOptions);
  const subscriber = main.duplicate({ enableOfflineQueue: true });
  for (const client of [main, subscriber]) {
    client.on('error', () => undefined);
    opened.push({ close: () => client.disconnect() });
  }
  return subscriber;
}

test('subscribes although the connection takes longer to set up than the command timeout', async () => {
  const server = await startFakeRedis({ delayMs: () => 100 });
  opened.push(server);
  const feed = await createEventFeed(subscriberOf(server), keys, () => undefined);
  opened.push(feed);

  const subscribe = server.commands.find((c) => c.name === 'SUBSCRIBE');
  expect(subscribe?.args).toEqual([keys.orderStatusChannel, keys.saleEventsChannel]);
  // Written after the set-up, not queued before it.
  expect(server.commands.map((c) => c.name).indexOf('SUBSCRIBE')).toBeGreaterThan(
    server.commands.map((c) => c.name).indexOf('INFO'),
  );
});

test('a subscription that times out is retried by the given retry', async () => {
  // The first SUBSCRIBE is answered after the command timeout (a Redis hung for a moment).
  let subscribes = 0;
  const server = await startFakeRedis({
    delayMs: (c) => (c.name === 'SUBSCRIBE' && ++subscribes === 1 ? 400 : 0),
  });
  opened.push(server);
  const failures: unknown[] = [];
  const feed = await createEventFeed(
    subscriberOf(server),
    keys,
    () => undefined,
    async (step) => {
      for (;;) {
        try {
          await step();
          return;
        } catch (error) {
          failures.push(error);
        }
      }
    },
  );
  opened.push(feed);
  expect(failures).toHaveLength(1);
  expect((failures[0] as Error).message).toBe('Command timed out');
  expect(server.commands.filter((c) => c.name === 'SUBSCRIBE')).toHaveLength(2);
});
