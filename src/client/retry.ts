/**
 * How a client places one logical order (or makes one restock): one idempotency key for every
 * attempt, retries only where the gate says another attempt can succeed, waiting as long as a
 * rate-limit refusal asks. Platform-neutral (Node and browsers): the transport is the caller's.
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
  /** True when the same request may succeed later (retry with the same idempotency key). */
  readonly retryable: boolean;
}

/**
 * Codes after which retrying the same key is safe and may succeed: rate limited, a concurrent
 * attempt still in flight, a dependency down, or an outcome the client cannot know.
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
  const retryAt = e.findDetails(WaitingRoomTicketSchema)[0]?.retryAt;
  const info = e.findDetails(ErrorInfoSchema)[0];
  return {
    reason: info?.reason ?? Code[e.code],
    code: e.code,
    message: e.rawMessage,
    metadata: info?.metadata ?? {},
    retryAfterMs: retryDelay === undefined ? undefined : durationMs(retryDelay),
    retryAtMs: retryAt === undefined ? undefined : timestampMs(retryAt),
    retryable: retryableCodes.has(e.code),
  };
}

/** One logical order. */
export interface OrderInput {
  readonly sku: string;
  readonly quantity: number;
  readonly customerId: string;
  /** Reuse a key to resume an order placed before (for example after a crash); new when absent. */
  readonly idempotencyKey?: string;
}

/** How hard to try. */
export interface RetryPolicy {
  /** Attempts in all, the first included. */
  readonly maxAttempts: number;
  /** Deadline of each attempt, ms. */
  readonly attemptTimeoutMs: number;
  /** First backoff when the gate names no delay; doubles per attempt, with jitter. */
  readonly baseDelayMs: number;
  /** Longest single wait, whatever the gate asks. */
  readonly maxDelayMs: number;
}

/** Sensible defaults for a backend placing orders. */
export const defaultRetryPolicy: RetryPolicy = {
  maxAttempts: 5,
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

/** The wait before attempt `attempt + 1`: the gate's delay if it named one, else backoff. */
export function retryDelayMs(attempt: number, failure: FailureView, policy: RetryPolicy): number {
  const backoff = policy.baseDelayMs * 2 ** (attempt - 1) * (0.5 + Math.random() / 2);
  return Math.min(policy.maxDelayMs, failure.retryAfterMs ?? backoff);
}

/** How one retried call goes: its policy, its cancellation, its progress listener. */
export interface RetryOptions {
  readonly policy?: RetryPolicy;
  readonly signal?: AbortSignal;
  readonly onRetry?: RetryListener;
}

/**
 * Runs `attempt` until it succeeds, its failure is final, or the attempts run out; rejects with
 * the last error. Each attempt gets the policy's deadline and the caller's signal.
 */
async function withRetries<T>(
  attempt: (callOptions: { timeoutMs: number; signal: AbortSignal | undefined }) => Promise<T>,
  options: RetryOptions,
): Promise<{ result: T; attempts: number }> {
  const policy = options.policy ?? defaultRetryPolicy;
  for (let attempts = 1; ; attempts++) {
    try {
      const result = await attempt({ timeoutMs: policy.attemptTimeoutMs, signal: options.signal });
      return { result, attempts };
    } catch (error) {
      const failure = describeFailure(error);
      if (!failure.retryable || attempts >= policy.maxAttempts || options.signal?.aborted) {
        throw error;
      }
      const waitMs = retryDelayMs(attempts, failure, policy);
      options.onRetry?.(attempts, failure, waitMs);
      await sleep(waitMs, options.signal);
    }
  }
}

/**
 * Places one order, retrying with the same idempotency key while the gate says it may succeed.
 * Resolves with the gate's answer (PENDING until the worker records it); rejects with the last
 * error when a refusal is final or the attempts run out.
 */
export async function placeOrder(
  client: Client<typeof OrderGateService>,
  input: OrderInput,
  options: RetryOptions = {},
): Promise<{ response: PlaceOrderResponse; idempotencyKey: string; attempts: number }> {
  const idempotencyKey = input.idempotencyKey ?? crypto.randomUUID();
  const { result, attempts } = await withRetries(
    (callOptions) =>
      client.placeOrder(
        {
          sku: input.sku,
          quantity: input.quantity,
          customerId: input.customerId,
          idempotencyKey,
        },
        callOptions,
      ),
    options,
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
