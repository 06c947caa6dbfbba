/**
 * The kafkajs patch (patches/kafkajs+2.2.4.patch, part 2): a request queue with nothing pending
 * and no throttle sets no timer, so it neither spins a 1 ms loop nor sets a negative delay; with
 * something pending or a throttle, it still schedules its check.
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
