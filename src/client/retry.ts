/**
 * How a client places one logical order (or makes one restock): one idempotency key for every
 * attempt, retries only where the gate says another attempt can succeed, each after the delay
 * the gate names (RetryInfo), all within the caller's deadline. Platform-neutral (Node and
 * browsers): the transport is the caller's.
 */
import { Code, ConnectError, type Client } from '@connectrpc/connect';
import { durationMs, timestampMs } from '@bufbuild/protobuf/wkt';
import type { AdminService, RestockResponse } from '../../gen/fluxgate/v1/admin_pb.js';
import type { OrderGateService, PlaceOrderResponse } from '../../gen/fluxgate/v1/order_gate_pb.js';
import { WaitingRoomTicketSchema } from '../../gen/fluxgate/v1/errors_pb.js';
import { ErrorInfoSchema, RetryInfoSchema } from '../../gen/google/rpc/error_details_pb.js';

/** A refusal or failure as a client sees it. */
export interface FailureView {
  /** The refusal reason (ErrorInfo.reason), or the code's name when there is none. */
  readonly reason: string;
  readonly code: Code;
  readonly message: string;
  /** The refusal's facts (ErrorInfo.metadata, e.g. `units_left`, `remaining`); empty when none. */
  readonly metadata: Readonly<Record<string, string>>;
  /** How long the gate asks to wait before retrying, when it says. */
  readonly retryAfterMs: number | undefined;
  /** When the waiting room lets this buyer try again, ms since the epoch, when rate-limited. */
  readonly retryAtMs: number | undefined;
  /**
   * The waiting-room ticket of a refusal for the sale's rate: its signed token (send it back as
   * `queue_ticket`) and its number in the sale's queue.
   */
  readonly ticket: { readonly token: string; readonly number: number } | undefined;
  /** True when the same request may succeed later (retry with the same idempotency key). */
  readonly retryable: boolean;
}

/**
 * Codes after which retrying the same key is safe and may succeed: rate limited
 * (`RATE_LIMITED`), a concurrent attempt still in flight (`IDEMPOTENCY_KEY_IN_FLIGHT`), a
 * dependency down or a sale being reloaded (`DEPENDENCY_UNAVAILABLE`, `SALE_STATE_RELOADING`),
 * or an outcome the client cannot know (`OUTCOME_UNKNOWN`, a timeout, an internal fault): the
 * idempotency key makes the retry learn it. Every other code is final for that request (sold
 * out, limits, sale closed or unknown, invalid input, key reused, unauthenticated).
 */
const retryableCodes = new Set([
  Code.ResourceExhausted,
  Code.Aborted,
  Code.Unavailable,
  Code.DeadlineExceeded,
  Code.Internal,
  Code.Unknown,
]);

/** Reads the machine-readable details of any error thrown by a Flux-Gate call. */
export function describeFailure(error: unknown): FailureView {
  const e = ConnectError.from(error);
  const retryDelay = e.findDetails(RetryInfoSchema)[0]?.retryDelay;
  const ticket = e.findDetails(WaitingRoomTicketSchema)[0];
  const retryAt = ticket?.retryAt;
  const info = e.findDetails(ErrorInfoSchema)[0];
  return {
    reason: info?.reason ?? Code[e.code],
    code: e.code,
    message: e.rawMessage,
    metadata: info?.metadata ?? {},
    retryAfterMs: retryDelay === undefined ? undefined : durationMs(retryDelay),
    retryAtMs: retryAt === undefined ? undefined : timestampMs(retryAt),
    ticket:
      ticket === undefined || ticket.token === ''
        ? undefined
        : { token: ticket.token, number: Number(ticket.number) },
    // resource_exhausted without a delay is a message over the size limit, not a rate limit:
    // the same request would be refused again.
    retryable:
      retryableCodes.has(e.code) &&
      !(e.code === Code.ResourceExhausted && retryDelay === undefined),
  };
}

/** One logical order. */
export interface OrderInput {
  readonly sku: string;
  readonly quantity: number;
  readonly customerId: string;
  /** Reuse a key to resume an order placed before (for example after a crash); new when absent. */
  readonly idempotencyKey?: string;
  /** A waiting-room ticket the buyer holds already (WaitingRoomTicket.token). */
  readonly queueTicket?: string;
}

/**
 * How hard to try. The caller's deadline bounds the whole call, retries and waits included:
 * a retry is worth making only while its answer can still arrive in time.
 */
export interface RetryPolicy {
  /**
   * Time the whole call may take, ms from its start. Each attempt gets at most what is left;
   * a wait that would end past it is not begun: the call fails at once with the last error.
   */
  readonly deadlineMs: number;
  /** Attempts in all, the first included: a safety cap, the deadline is the real bound. */
  readonly maxAttempts: number;
  /** Deadline of one attempt, ms (lowered to the time left). */
  readonly attemptTimeoutMs: number;
  /** Backoff when the gate names no delay: up to this, doubling per attempt, full jitter. */
  readonly baseDelayMs: number;
  /** Longest single wait, whatever the gate asks. */
  readonly maxDelayMs: number;
}

/**
 * Sensible defaults for a backend placing orders: 30 s in all (the gate's own longest deadline,
 * FLUXGATE_MAX_DEADLINE_MS) is enough to ride out a broker outage of a dozen seconds at the
 * gate's usual delay of about 1 s, and the attempt cap leaves room for that.
 */
export const defaultRetryPolicy: RetryPolicy = {
  deadlineMs: 30_000,
  maxAttempts: 100,
  attemptTimeoutMs: 5000,
  baseDelayMs: 100,
  maxDelayMs: 10_000,
};

/** What {@link placeOrder} reports before each retry (for logs and progress output). */
export type RetryListener = (attempt: number, failure: FailureView, waitMs: number) => void;

/** Waits `ms`, or rejects when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(ConnectError.from(signal.reason));
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(ConnectError.from(signal?.reason));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * The wait before attempt `attempt + 1`: the gate's delay if it named one (the gate already
 * spreads it with jitter), else exponential backoff with full jitter; at most `maxDelayMs`.
 */
export function retryDelayMs(
  attempt: number,
  failure: FailureView,
  policy: Pick<RetryPolicy, 'baseDelayMs' | 'maxDelayMs'>,
): number {
  if (failure.retryAfterMs !== undefined) return Math.min(policy.maxDelayMs, failure.retryAfterMs);
  return Math.random() * Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
}

/** How one retried call goes: its policy, its cancellation, its progress listener, its clock. */
export interface RetryOptions {
  /** Overrides of {@link defaultRetryPolicy}, field by field. */
  readonly policy?: Partial<RetryPolicy>;
  /** The caller's cancellation: aborts the attempt in flight or the wait. */
  readonly signal?: AbortSignal;
  readonly onRetry?: RetryListener;
  /** Monotonic clock, ms (tests pass their own); `performance.now` by default. */
  readonly now?: () => number;
  /** Waits ms, or rejects when the signal aborts (tests pass their own); a timer by default. */
  readonly sleep?: (ms: number, signal: AbortSignal | undefined) => Promise<void>;
}

/**
 * Runs `attempt` until it succeeds, its failure is final, the deadline or the attempt cap is
 * reached, or the caller aborts; rejects with the last error (the abort's, when aborted).
 * Each attempt gets the caller's signal and min(attempt timeout, time left) as its deadline.
 */
async function withRetries<T>(
  attempt: (callOptions: { timeoutMs: number; signal: AbortSignal | undefined }) => Promise<T>,
  options: RetryOptions,
): Promise<{ result: T; attempts: number }> {
  const policy = { ...defaultRetryPolicy, ...options.policy };
  const now = options.now ?? (() => performance.now());
  const wait = options.sleep ?? sleep;
  const deadline = now() + policy.deadlineMs;
  for (let attempts = 1; ; attempts++) {
    try {
      // Whole ms: the gRPC transport writes the number as it is into `grpc-timeout`.
      const timeoutMs = Math.floor(Math.min(policy.attemptTimeoutMs, deadline - now()));
      const result = await attempt({ timeoutMs, signal: options.signal });
      return { result, attempts };
    } catch (error) {
      const failure = describeFailure(error);
      if (!failure.retryable || attempts >= policy.maxAttempts || options.signal?.aborted) {
        throw error;
      }
      const waitMs = retryDelayMs(attempts, failure, policy);
      // A wait ending at or past the deadline leaves no attempt worth making: give up now.
      if (now() + waitMs >= deadline) throw error;
      options.onRetry?.(attempts, failure, waitMs);
      await wait(waitMs, options.signal);
    }
  }
}

/**
 * Places one order, retrying with the same idempotency key while the gate says it may succeed,
 * and with the waiting-room ticket the last refusal gave (the buyer's place in the sale's
 * queue: a retry without it would queue again, at the end). Resolves with the gate's answer
 * (PENDING until the worker records it); rejects with the last error when a refusal is final or
 * the deadline comes first.
 */
export async function placeOrder(
  client: Client<typeof OrderGateService>,
  input: OrderInput,
  options: RetryOptions = {},
): Promise<{ response: PlaceOrderResponse; idempotencyKey: string; attempts: number }> {
  const idempotencyKey = input.idempotencyKey ?? crypto.randomUUID();
  let queueTicket = input.queueTicket ?? '';
  const { result, attempts } = await withRetries(
    (callOptions) =>
      client.placeOrder(
        {
          sku: input.sku,
          quantity: input.quantity,
          customerId: input.customerId,
          idempotencyKey,
          queueTicket,
        },
        callOptions,
      ),
    {
      ...options,
      onRetry: (attempt, failure, waitMs) => {
        queueTicket = failure.ticket?.token ?? queueTicket;
        options.onRetry?.(attempt, failure, waitMs);
      },
    },
  );
  return { response: result, idempotencyKey, attempts };
}

/** One restock. */
export interface RestockInput {
  readonly sku: string;
  readonly units: number;
  /** Reuse a key to resume a restock made before (for example after a crash); new when absent. */
  readonly idempotencyKey?: string;
}

/**
 * Adds units to a sale once, retrying with the same idempotency key while the gate says it may
 * succeed: however many attempts reach the gate, the units are added once. The answer may say
 * `liveReloadPending` (recorded, live sale waiting for a reload): that is a success.
 */
export async function restock(
  client: Client<typeof AdminService>,
  input: RestockInput,
  options: RetryOptions = {},
): Promise<{ response: RestockResponse; idempotencyKey: string; attempts: number }> {
  const idempotencyKey = input.idempotencyKey ?? crypto.randomUUID();
  const { result, attempts } = await withRetries(
    (callOptions) =>
      client.restock({ sku: input.sku, units: BigInt(input.units), idempotencyKey }, callOptions),
    options,
  );
  return { response: result, idempotencyKey, attempts };
}
