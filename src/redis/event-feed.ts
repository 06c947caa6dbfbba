/**
 * One Redis subscriber connection per gate, fanned out in process: order status changes (for
 * WatchOrder) and sale changes (to drop sold-out flags, and to wake WatchStock streams).
 */
import { once } from 'node:events';
import { decodeOrderStatusChanged } from '../kafka/codec.js';
import type { RedisClient } from './client.js';
import type { Keys } from './keys.js';

/** Subscriptions to the feed; each `on*` returns its unsubscribe function. */
export interface EventFeed {
  /** Calls `listener` when the order's status changes. */
  onOrderStatus(orderId: string, listener: () => void): () => void;
  /** Calls `listener` with the sku whenever a sale changes. */
  onSaleChanged(listener: (sku: string) => void): () => void;
  /** Closes the subscriber connection. */
  close(): void;
}

/**
 * Subscribes `subscriber` (a dedicated connection) to the feed's channels, once its connection
 * is ready: ioredis starts a command's timeout when the command is queued, so a SUBSCRIBE queued
 * while the connection is still being set up (HELLO, CLIENT SETINFO, INFO: a round trip each)
 * spent the whole command timeout on the set-up and, on a loaded machine, failed with "Command
 * timed out" though Redis was fine (ioredis issue #2130). `retry` runs the subscription step (the
 * gate passes its start-up retry); a step that failed may still subscribe later, harmlessly.
 */
export async function createEventFeed(
  subscriber: RedisClient,
  keys: Keys,
  onError: (error: unknown) => void,
  retry: (step: () => Promise<void>) => Promise<void> = (step) => step(),
): Promise<EventFeed> {
  const orderListeners = new Map<string, Set<() => void>>();
  const saleListeners = new Set<(sku: string) => void>();
  subscriber.on('messageBuffer', (channel: Buffer, message: Buffer) => {
    try {
      if (channel.toString() === keys.orderStatusChannel) {
        const { orderId } = decodeOrderStatusChanged(message);
        for (const listener of orderListeners.get(orderId) ?? []) listener();
      } else {
        const sku = message.toString();
        for (const listener of saleListeners) listener(sku);
      }
    } catch (error) {
      onError(error);
    }
  });
  await retry(async () => {
    if (subscriber.status !== 'ready') await once(subscriber, 'ready');
    await subscriber.subscribe(keys.orderStatusChannel, keys.saleEventsChannel);
  });
  return {
    onOrderStatus(orderId, listener) {
      const set = orderListeners.get(orderId) ?? new Set();
      orderListeners.set(orderId, set.add(listener));
      return () => {
        set.delete(listener);
        if (set.size === 0) orderListeners.delete(orderId);
      };
    },
    onSaleChanged(listener) {
      saleListeners.add(listener);
      return () => saleListeners.delete(listener);
    },
    close() {
      subscriber.disconnect();
    },
  };
}
