/**
 * The kafkajs patch (patches/kafkajs+2.2.4.patch). Part 2: a request queue with nothing pending
 * and no throttle sets no timer, so it neither spins a 1 ms loop nor sets a negative delay; with
 * something pending or a throttle, it still schedules its check. Part 3 (linear grouping): a
 * send's messages are still grouped by partition in their order. Part 4: the default
 * partitioner's murmur2 in 32-bit arithmetic gives Kafka's hashes.
 */
import { createRequire } from 'node:module';
import { afterEach, describe, expect, test, vi } from 'vitest';

const require = createRequire(import.meta.url);
/** kafkajs's own request queue (not exported by its API: loaded from its sources). */
const RequestQueue = require('kafkajs/src/network/requestQueue/index.js') as new (options: {
  maxInFlightRequests: number;
  requestTimeout: number;
  enforceRequestTimeout: boolean;
  clientId: string;
  broker: string;
  logger: { debug: () => void; warn: () => void; error: () => void; info: () => void };
}) => {
  pending: unknown[];
  throttledUntil: number;
  throttleCheckTimeoutId: unknown;
  checkPendingRequests(): void;
  scheduleCheckPendingRequests(): void;
};

const quiet = {
  debug: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  info: () => undefined,
};
const queue = () =>
  new RequestQueue({
    maxInFlightRequests: 1,
    requestTimeout: 30_000,
    enforceRequestTimeout: true,
    clientId: 'test',
    broker: '127.0.0.1:9092',
    logger: quiet,
  });

afterEach(() => {
  vi.restoreAllMocks();
});

describe('kafkajs request queue', () => {
  test('nothing pending, no throttle: a check sets no timer (no 1 ms loop, no negative delay)', () => {
    const timers = vi.spyOn(globalThis, 'setTimeout');
    const q = queue();
    q.checkPendingRequests();
    q.checkPendingRequests();
    expect(timers).not.toHaveBeenCalled();
    expect(q.throttleCheckTimeoutId).toBeFalsy();
  });

  test('something pending: the check is still scheduled, with a positive delay', () => {
    const timers = vi.spyOn(globalThis, 'setTimeout');
    const q = queue();
    q.pending.push({});
    q.scheduleCheckPendingRequests();
    expect(timers).toHaveBeenCalledTimes(1);
    expect(timers.mock.calls[0]?.[1]).toBeGreaterThan(0);
    clearTimeout(q.throttleCheckTimeoutId as NodeJS.Timeout);
  });

  test('throttled: the check is scheduled for the end of the throttle', () => {
    const timers = vi.spyOn(globalThis, 'setTimeout');
    const q = queue();
    q.throttledUntil = Date.now() + 5000;
    q.scheduleCheckPendingRequests();
    expect(timers).toHaveBeenCalledTimes(1);
    expect(timers.mock.calls[0]?.[1]).toBeGreaterThan(4000);
    clearTimeout(q.throttleCheckTimeoutId as NodeJS.Timeout);
  });
});

/** kafkajs's grouping of a send's messages by partition (loaded from its sources). */
const groupMessagesPerPartition =
  require('kafkajs/src/producer/groupMessagesPerPartition.js') as (args: {
    topic: string;
    partitionMetadata: { partitionId: number }[];
    messages: { key: string }[];
    partitioner: (args: { message: { key: string } }) => number;
  }) => Record<number, { key: string }[]>;
/** kafkajs's murmur2, as its default partitioner uses it. */
const murmur2 = require('kafkajs/src/producer/partitioners/default/murmur2.js') as (
  key: string | Buffer,
) => number;

describe('kafkajs producer', () => {
  test('messages are grouped by partition, each group in send order', () => {
    const messages = Array.from({ length: 10 }, (_, i) => ({ key: String(i) }));
    const groups = groupMessagesPerPartition({
      topic: 't',
      partitionMetadata: [{ partitionId: 0 }, { partitionId: 1 }, { partitionId: 2 }],
      messages,
      partitioner: ({ message }) => Number(message.key) % 3,
    });
    expect(groups).toEqual({
      0: [messages[0], messages[3], messages[6], messages[9]],
      1: [messages[1], messages[4], messages[7]],
      2: [messages[2], messages[5], messages[8]],
    });
  });

  test("murmur2 gives Kafka's hashes (its own test vectors, and order ids as the old code hashed them)", () => {
    const expected: [string, number][] = [
      ['21', -973932308],
      ['foobar', -790332482],
      ['a-little-bit-long-string', -985981536],
      ['a-little-bit-longer-string', -1486304829],
      ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
      ['abc', 479470107],
      ['0190a000-0000-7000-8000-000000000001', 1232996759],
      ['SKU-1', -905834556],
      ['', 275646681],
    ];
    expect(expected.map(([key]) => [key, murmur2(key)])).toEqual(expected);
  });
});
