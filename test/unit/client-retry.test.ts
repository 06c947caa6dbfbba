/**
 * The typed client's retry loop against an in-memory gate, on a fake clock: it waits the delay
 * the gate names, rides out an outage of many seconds under one idempotency key, stops at the
 * caller's deadline with the last error without sleeping past it, gives each attempt at most
 * the time left, and never retries a final refusal.
 */
import { create } from '@bufbuild/protobuf';
import { durationFromMs } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError, type Client } from '@connectrpc/connect';
import { afterEach, describe, expect, test, vi } from 'vitest';
import type { AdminService } from '../../gen/fluxgate/v1/admin_pb.js';
import {
  PlaceOrderResponseSchema,
  type OrderGateService,
  type PlaceOrderResponse,
} from '../../gen/fluxgate/v1/order_gate_pb.js';
import { WaitingRoomTicketSchema } from '../../gen/fluxgate/v1/errors_pb.js';
import { ErrorInfoSchema, RetryInfoSchema } from '../../gen/google/rpc/error_details_pb.js';
import {
  describeFailure,
  placeOrder,
  restock,
  type FailureView,
  type RetryOptions,
  type RetryPolicy,
} from '../../src/client/retry.js';

afterEach(() => {
  vi.restoreAllMocks();
});

/** A refusal as the gate sends it: ErrorInfo, and RetryInfo when it names a delay. */
function refusal(code: Code, reason: string, retryAfterMs?: number): ConnectError {
  const details: ConstructorParameters<typeof ConnectError>[3] = [
    { desc: ErrorInfoSchema, value: create(ErrorInfoSchema, { reason, domain: 'fluxgate.dev' }) },
  ];
  if (retryAfterMs !== undefined)
    details.push({
      desc: RetryInfoSchema,
      value: create(RetryInfoSchema, { retryDelay: durationFromMs(retryAfterMs) }),
    });
  return new ConnectError(reason.toLowerCase(), code, undefined, details);
}

const accepted = create(PlaceOrderResponseSchema, { orderId: 'order-1' });

/** One attempt as the gate saw it. */
interface Attempt {
  readonly atMs: number;
  readonly idempotencyKey: string;
  readonly timeoutMs: number;
}

/**
 * A clock that only moves when the loop sleeps or an attempt takes time, and a gate that
 * answers each attempt with `answer(attempt number, now)`, taking `attemptMs` (at most the
 * attempt's deadline, after which it times out as a real transport would).
 */
function harness(
  answer: (attempt: number, nowMs: number) => PlaceOrderResponse | ConnectError,
  policy: Partial<RetryPolicy> = {},
  attemptMs = 0,
) {
  let nowMs = 0;
  const attempts: Attempt[] = [];
  const sleeps: { atMs: number; ms: number }[] = [];
  const retries: { reason: string; waitMs: number }[] = [];
  const client = {
    placeOrder: async (
      request: { idempotencyKey: string },
      callOptions: { timeoutMs: number },
    ): Promise<PlaceOrderResponse> => {
      attempts.push({
        atMs: nowMs,
        idempotencyKey: request.idempotencyKey,
        timeoutMs: callOptions.timeoutMs,
      });
      if (attemptMs > callOptions.timeoutMs) {
        nowMs += callOptions.timeoutMs;
        throw new ConnectError('the operation timed out', Code.DeadlineExceeded);
      }
      nowMs += attemptMs;
      const result = answer(attempts.length, nowMs);
      if (result instanceof ConnectError) throw result;
      return result;
    },
  } as unknown as Client<typeof OrderGateService>;
  const options: RetryOptions = {
    policy,
    now: () => nowMs,
    sleep: async (ms) => {
      sleeps.push({ atMs: nowMs, ms });
      nowMs += ms;
    },
    onRetry: (_attempt, failure, waitMs) => retries.push({ reason: failure.reason, waitMs }),
  };
  return {
    attempts,
    sleeps,
    retries,
    now: () => nowMs,
    place: () => placeOrder(client, { sku: 'S-1', quantity: 1, customerId: 'c' }, options),
  };
}

/** The rejection of `promise`, failing the test if it resolves. */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.fail('resolved'),
    (error: unknown) => error,
  );
}

describe('retry delays', () => {
  test.each([
    ['DEPENDENCY_UNAVAILABLE', Code.Unavailable],
    ['OUTCOME_UNKNOWN', Code.Unavailable],
    ['SALE_STATE_RELOADING', Code.Unavailable],
    ['RATE_LIMITED', Code.ResourceExhausted],
    ['IDEMPOTENCY_KEY_IN_FLIGHT', Code.Aborted],
  ])('%s is retried after the delay the gate names', async (reason, code) => {
    const h = harness((n) => (n < 3 ? refusal(code, reason, 1234 + n) : accepted));
    const placed = await h.place();
    expect(placed.response.orderId).toBe('order-1');
    expect(placed.attempts).toBe(3);
    expect(h.sleeps.map((s) => s.ms)).toEqual([1235, 1236]);
    expect(h.retries).toEqual([
      { reason, waitMs: 1235 },
      { reason, waitMs: 1236 },
    ]);
  });

  test('without a named delay: exponential backoff with full jitter, capped', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
    const h = harness((n) => (n < 7 ? new ConnectError('boom', Code.Internal) : accepted), {
      baseDelayMs: 100,
      maxDelayMs: 1000,
    });
    await h.place();
    expect(h.sleeps.map((s) => s.ms)).toEqual([50, 100, 200, 400, 500, 500]);
  });

  test('a named delay above maxDelayMs is cut to it', async () => {
    const h = harness(
      (n) => (n < 2 ? refusal(Code.Unavailable, 'OUTCOME_UNKNOWN', 20_000) : accepted),
      {
        maxDelayMs: 3000,
      },
    );
    await h.place();
    expect(h.sleeps.map((s) => s.ms)).toEqual([3000]);
  });
});

describe('the caller’s deadline', () => {
  test('rides out a 14 s broker outage of 1 s delays with the default policy, under one key', async () => {
    const h = harness(
      (_n, nowMs) =>
        nowMs < 14_000 ? refusal(Code.Unavailable, 'DEPENDENCY_UNAVAILABLE', 1000) : accepted,
      {},
      20,
    );
    const placed = await h.place();
    expect(placed.response.orderId).toBe('order-1');
    expect(placed.attempts).toBeGreaterThan(13);
    expect(new Set(h.attempts.map((a) => a.idempotencyKey))).toEqual(
      new Set([placed.idempotencyKey]),
    );
    expect(h.sleeps.every((s) => s.ms === 1000)).toBe(true);
  });

  test('stops at the deadline with the last error and never sleeps past it', async () => {
    const errors: ConnectError[] = [];
    const h = harness(
      () => {
        errors.push(refusal(Code.Unavailable, 'DEPENDENCY_UNAVAILABLE', 1000));
        return errors.at(-1)!;
      },
      { deadlineMs: 5500 },
      100,
    );
    const error = await rejection(h.place());
    expect(error).toBe(errors.at(-1));
    // Attempts at 0, 1100, 2200, 3300, 4400; the wait after the last would end at 6500.
    expect(h.attempts.map((a) => a.atMs)).toEqual([0, 1100, 2200, 3300, 4400]);
    expect(h.sleeps.every((s) => s.atMs + s.ms < 5500)).toBe(true);
    expect(h.now()).toBe(4500);
  });

  test('a delay longer than the time left fails at once, without waiting', async () => {
    const h = harness(() => refusal(Code.ResourceExhausted, 'RATE_LIMITED', 8000), {
      deadlineMs: 5000,
    });
    expect(describeFailure(await rejection(h.place())).reason).toBe('RATE_LIMITED');
    expect(h.attempts).toHaveLength(1);
    expect(h.sleeps).toEqual([]);
  });

  test('each attempt gets at most the time left', async () => {
    // Every attempt hangs for 4 s; the gate's answer after it asks for 1 s.
    const h = harness(
      () => refusal(Code.Unavailable, 'OUTCOME_UNKNOWN', 1000),
      { deadlineMs: 12_000, attemptTimeoutMs: 5000 },
      4000,
    );
    const error = await rejection(h.place());
    expect(h.attempts.map((a) => [a.atMs, a.timeoutMs])).toEqual([
      [0, 5000],
      [5000, 5000],
      [10_000, 2000],
    ]);
    // The last attempt ran out of time: its timeout is the last error.
    expect(describeFailure(error).code).toBe(Code.DeadlineExceeded);
    expect(h.now()).toBe(12_000);
  });

  test('maxAttempts still caps the attempts', async () => {
    const h = harness(() => refusal(Code.Unavailable, 'DEPENDENCY_UNAVAILABLE', 10), {
      maxAttempts: 3,
    });
    await rejection(h.place());
    expect(h.attempts).toHaveLength(3);
  });

  test('the caller’s abort ends the wait at once', async () => {
    const controller = new AbortController();
    const client = {
      placeOrder: async () => {
        setTimeout(() => controller.abort(), 10);
        throw refusal(Code.Unavailable, 'DEPENDENCY_UNAVAILABLE', 60_000);
      },
    } as unknown as Client<typeof OrderGateService>;
    const started = performance.now();
    const error = await rejection(
      placeOrder(
        client,
        { sku: 'S-1', quantity: 1, customerId: 'c' },
        { signal: controller.signal, policy: { maxDelayMs: 60_000, deadlineMs: 120_000 } },
      ),
    );
    expect(describeFailure(error).code).toBe(Code.Canceled);
    expect(performance.now() - started).toBeLessThan(5000);
  });
});

describe('final refusals', () => {
  test.each([
    ['SOLD_OUT', Code.FailedPrecondition],
    ['INSUFFICIENT_STOCK', Code.FailedPrecondition],
    ['PURCHASE_LIMIT_REACHED', Code.FailedPrecondition],
    ['SALE_NOT_OPEN', Code.FailedPrecondition],
    ['SALE_PAUSED', Code.FailedPrecondition],
    ['SALE_ENDED', Code.FailedPrecondition],
    ['SALE_NOT_FOUND', Code.NotFound],
    ['INVALID_ARGUMENT', Code.InvalidArgument],
    ['IDEMPOTENCY_KEY_REUSED', Code.InvalidArgument],
    ['UNAUTHENTICATED', Code.Unauthenticated],
  ])('%s is not retried', async (reason, code) => {
    const sent = refusal(code, reason);
    const h = harness(() => sent);
    expect(await rejection(h.place())).toBe(sent);
    expect(h.attempts).toHaveLength(1);
    expect(h.sleeps).toEqual([]);
    expect(describeFailure(sent).retryable).toBe(false);
  });

  test('a message over the size limit (resource_exhausted with no delay) is not retried', async () => {
    const sent = new ConnectError('message too large', Code.ResourceExhausted);
    const h = harness(() => sent);
    expect(await rejection(h.place())).toBe(sent);
    expect(h.attempts).toHaveLength(1);
    expect(describeFailure(sent).retryable).toBe(false);
  });
});

describe('one idempotency key', () => {
  test('a caller’s key is sent on every attempt of an order', async () => {
    const keys: string[] = [];
    const client = {
      placeOrder: async (request: { idempotencyKey: string }) => {
        keys.push(request.idempotencyKey);
        if (keys.length < 4) throw refusal(Code.Unavailable, 'OUTCOME_UNKNOWN', 1);
        return accepted;
      },
    } as unknown as Client<typeof OrderGateService>;
    const placed = await placeOrder(client, {
      sku: 'S-1',
      quantity: 1,
      customerId: 'c',
      idempotencyKey: 'resumed-key',
    });
    expect(placed).toMatchObject({ idempotencyKey: 'resumed-key', attempts: 4 });
    expect(keys).toEqual(['resumed-key', 'resumed-key', 'resumed-key', 'resumed-key']);
  });

  test('a waiting-room ticket from a refusal is sent on every later attempt', async () => {
    const sent: string[] = [];
    const ticketed = (token: string) =>
      new ConnectError('wait', Code.ResourceExhausted, undefined, [
        { desc: RetryInfoSchema, value: { retryDelay: durationFromMs(1) } },
        { desc: WaitingRoomTicketSchema, value: { token, number: 7n, sku: 'S-1' } },
      ]);
    const client = {
      placeOrder: async (request: { queueTicket: string }) => {
        sent.push(request.queueTicket);
        if (sent.length === 1) throw refusal(Code.Unavailable, 'OUTCOME_UNKNOWN', 1);
        if (sent.length < 4) throw ticketed('k.t.first');
        return accepted;
      },
    } as unknown as Client<typeof OrderGateService>;
    const failures: FailureView[] = [];
    await placeOrder(
      client,
      { sku: 'S-1', quantity: 1, customerId: 'c' },
      { sleep: async () => undefined, onRetry: (_n, failure) => failures.push(failure) },
    );
    // None at first; then the ticket the first rate refusal gave, kept.
    expect(sent).toEqual(['', '', 'k.t.first', 'k.t.first']);
    expect(failures[1]?.ticket).toEqual({ token: 'k.t.first', number: 7 });
  });

  test('a restock sends one new key on every attempt', async () => {
    const keys: string[] = [];
    const client = {
      restock: async (request: { idempotencyKey: string }) => {
        keys.push(request.idempotencyKey);
        if (keys.length < 3) throw refusal(Code.Unavailable, 'DEPENDENCY_UNAVAILABLE', 1);
        return {};
      },
    } as unknown as Client<typeof AdminService>;
    const done = await restock(client, { sku: 'S-1', units: 5 });
    expect(keys).toEqual([done.idempotencyKey, done.idempotencyKey, done.idempotencyKey]);
    expect(done.attempts).toBe(3);
  });
});
