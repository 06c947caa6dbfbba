/**
 * The ioredis patch (patches/ioredis+6.0.0.patch): after a reconnect, the commands ioredis sends
 * by itself to restore a subscriber's channels (and its database) report their failure as an
 * 'error' event of the client, not as an unhandled promise rejection, which stops a Node
 * process. Here the gate's subscriber loses its connection, and the new connection's SUBSCRIBE
 * is answered after the command timeout (a Redis hung for a moment, or a stalled event loop).
 */
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterEach, expect, test } from 'vitest';
import { startFakeRedis, type FakeRedis } from '../support/fake-redis.js';

const opened: { close(): Promise<void> | void }[] = [];
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => {
  unhandled.push(reason);
};

afterEach(async () => {
  process.off('unhandledRejection', onUnhandled);
  unhandled.length = 0;
  for (const closable of opened.splice(0).reverse()) await closable.close();
});

/** The gate's subscriber (src/main-gate.ts), with a 250 ms command timeout. */
function subscriberOf(server: FakeRedis): Redis {
  const main = new Redis(server.url, {
    enableAutoPipelining: true,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    commandTimeout: 250,
  });
  main.on('error', () => undefined);
  opened.push({ close: () => main.disconnect() });
  const subscriber = main.duplicate({ enableOfflineQueue: true });
  opened.push({ close: () => subscriber.disconnect() });
  return subscriber;
}

test('a resubscription that times out after a reconnect is an error event, not an unhandled rejection', async () => {
  process.on('unhandledRejection', onUnhandled);
  // The first SUBSCRIBE is answered at once, the next (the resubscription) 400 ms late.
  let subscribes = 0;
  const server = await startFakeRedis({
    delayMs: (c) => (c.name === 'SUBSCRIBE' && ++subscribes > 1 ? 400 : 0),
  });
  opened.push(server);
  const subscriber = subscriberOf(server);
  const errors: Error[] = [];
  subscriber.on('error', (error: Error) => errors.push(error));
  await subscriber.subscribe('a', 'b');

  server.dropConnections();
  await once(subscriber, 'ready');
  const deadline = performance.now() + 3000;
  const settled = () =>
    unhandled.length > 0 || errors.some((e) => e.message === 'Command timed out');
  while (!settled() && performance.now() < deadline) await sleep(20);
  await sleep(50); // an unhandled rejection is reported after the microtasks have run

  const resubscribed = server.commands.filter((c) => c.name === 'SUBSCRIBE').slice(1);
  expect(resubscribed.map((c) => c.args)).toEqual([['a', 'b']]);
  expect(unhandled).toEqual([]);
  expect(errors.map((e) => e.message)).toContain('Command timed out');
});
