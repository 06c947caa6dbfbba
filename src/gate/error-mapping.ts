/**
 * The one place where domain refusals become wire errors: code, details (ErrorInfo, RetryInfo,
 * WaitingRoomTicket) and headers (retry-after, idempotent-replayed), applied to every RPC by
 * one interceptor, so handlers just throw. The table is docs/refusals.md.
 */
import { create } from '@bufbuild/protobuf';
import { durationFromMs, timestampFromMs } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError, type Interceptor } from '@connectrpc/connect';
import { WaitingRoomTicketSchema } from '../../gen/fluxgate/v1/errors_pb.js';
import { ErrorInfoSchema, RetryInfoSchema } from '../../gen/google/rpc/error_details_pb.js';
import type { SignedTicket } from '../domain/queue.js';
import { Refusal, withoutStackTrace, type RefusalReason } from '../domain/refusal.js';

/** ErrorInfo.domain of every Flux-Gate refusal. */
export const errorDomain = 'fluxgate.dev';

/** Header marking an answer replayed from the idempotency store. */
export const replayedHeader = 'idempotent-replayed';

/** Reason -> Connect/gRPC code (the refusal table, docs/refusals.md). */
export const codeOfReason: Readonly<Record<RefusalReason, Code>> = {
  RATE_LIMITED: Code.ResourceExhausted,
  SOLD_OUT: Code.FailedPrecondition,
  INSUFFICIENT_STOCK: Code.FailedPrecondition,
  PURCHASE_LIMIT_REACHED: Code.FailedPrecondition,
  SALE_NOT_OPEN: Code.FailedPrecondition,
  SALE_PAUSED: Code.FailedPrecondition,
  SALE_ENDED: Code.FailedPrecondition,
  SALE_NOT_FOUND: Code.NotFound,
  ORDER_NOT_FOUND: Code.NotFound,
  INVALID_ARGUMENT: Code.InvalidArgument,
  IDEMPOTENCY_KEY_REUSED: Code.InvalidArgument,
  DEPENDENCY_UNAVAILABLE: Code.Unavailable,
  UNAUTHENTICATED: Code.Unauthenticated,
  OUTCOME_UNKNOWN: Code.Unavailable,
  SALE_STATE_RELOADING: Code.Unavailable,
  CUSTOMER_MISMATCH: Code.PermissionDenied,
  GATE_OVERLOADED: Code.Unavailable,
  TICKET_INVALID: Code.InvalidArgument,
  TICKET_NOT_YOURS: Code.PermissionDenied,
  TICKET_EXPIRED: Code.FailedPrecondition,
  TICKET_USED: Code.FailedPrecondition,
};

/** Codes that invite a retry: every answer with one of them carries a retry delay. */
const retryCodes: ReadonlySet<Code> = new Set([
  Code.Unavailable,
  Code.ResourceExhausted,
  Code.Aborted,
]);

/** The delay asked for when the gate knows no better one (a dependency's failure). */
export const defaultRetryAfterMs = 1000;

/**
 * `ms` stretched by up to a fifth at random, so that the buyers refused together do not all
 * come back in the same millisecond.
 */
export function jittered(ms: number): number {
  return Math.max(1, Math.round(ms * (1 + Math.random() / 5)));
}

/**
 * Wire errors of refusals whose answer is the same whoever gets it (no facts, no retry delay,
 * not replayed), by refusal: one refusal thrown for many calls (a closed sale refused at the
 * edge) is mapped once. Nothing changes a wire error once made.
 */
const fixedAnswers = new WeakMap<Refusal, ConnectError>();

/** Builds the wire error for a refusal. */
export function refusalToConnectError(refusal: Refusal, nowMs: number): ConnectError {
  const known = fixedAnswers.get(refusal);
  if (known !== undefined) return known;
  const { facts } = refusal;
  const code = codeOfReason[refusal.reason];
  const metadata: Record<string, string> = {};
  if (facts.remaining !== undefined) metadata.remaining = String(facts.remaining);
  if (facts.unitsLeft !== undefined) metadata.units_left = String(facts.unitsLeft);
  if (facts.startsAtMs !== undefined) metadata.starts_at = new Date(facts.startsAtMs).toISOString();
  if (facts.field !== undefined) metadata.field = facts.field;
  if (facts.dependency !== undefined) metadata.dependency = facts.dependency;
  if (facts.problem !== undefined) metadata.problem = facts.problem;
  if (facts.calledUntilMs !== undefined)
    metadata.called_until = new Date(facts.calledUntilMs).toISOString();
  const details: ConstructorParameters<typeof ConnectError>[3] = [
    {
      desc: ErrorInfoSchema,
      value: create(ErrorInfoSchema, { reason: refusal.reason, domain: errorDomain, metadata }),
    },
  ];
  const headers = new Headers();
  if (refusal.replayed) headers.set(replayedHeader, 'true');
  let retryAt = facts.startsAtMs ?? nowMs;
  if (retryCodes.has(code)) {
    const retryAfterMs = jittered(facts.retryAfterMs ?? defaultRetryAfterMs);
    addRetryDelay(details, headers, retryAfterMs);
    retryAt = nowMs + retryAfterMs;
  }
  if (facts.ticket !== undefined) {
    const { ticket } = facts;
    details.push({
      desc: WaitingRoomTicketSchema,
      value: create(WaitingRoomTicketSchema, {
        ticketId: ticketIdOf(ticket),
        sku: ticket.sku,
        retryAt: timestampFromMs(retryAt),
        token: ticket.token,
        number: BigInt(ticket.number),
        issuedAt: timestampFromMs(ticket.issuedAtMs),
      }),
    });
  }
  // An answer, like the refusal it carries.
  const error = withoutStackTrace(
    () => new ConnectError(refusal.message, code, headers, details, refusal),
  );
  if (Object.keys(facts).length === 0 && !refusal.replayed && !retryCodes.has(code)) {
    fixedAnswers.set(refusal, error);
  }
  return error;
}

/** A ticket's short id for logs and display: its number and the start of its signature. */
function ticketIdOf(ticket: SignedTicket): string {
  return `${ticket.number}-${ticket.token.slice(-8)}`;
}

/** Adds RetryInfo and the matching `retry-after` header (whole seconds, at least 1). */
function addRetryDelay(
  details: ConnectError['details'],
  headers: Headers,
  retryAfterMs: number,
): void {
  details.push({
    desc: RetryInfoSchema,
    value: create(RetryInfoSchema, { retryDelay: durationFromMs(retryAfterMs) }),
  });
  headers.set('retry-after', String(Math.max(1, Math.ceil(retryAfterMs / 1000))));
}

/**
 * A wire error made outside the refusal table (the server's own: draining) that invites a retry
 * gets the default delay too, unless it names one (added in place). The protocol layer's
 * `resource_exhausted` is a message over the size limit: the same request would fail again, so
 * it gets no delay.
 */
function withRetryDelay(error: ConnectError): ConnectError {
  if (
    retryCodes.has(error.code) &&
    error.code !== Code.ResourceExhausted &&
    error.findDetails(RetryInfoSchema).length === 0
  )
    addRetryDelay(error.details, error.metadata, jittered(defaultRetryAfterMs));
  return error;
}

/**
 * Any error from a handler as a wire error: refusals through the table; anything else is a
 * fault whose outcome the client cannot know, so it says to retry with the same key.
 */
export function toConnectError(error: unknown, nowMs: number): ConnectError {
  if (error instanceof Refusal) return refusalToConnectError(error, nowMs);
  if (error instanceof ConnectError) return withRetryDelay(error);
  return new ConnectError(
    'internal error; the outcome is unknown: retry with the same idempotency key',
    Code.Internal,
    undefined,
    undefined,
    error,
  );
}

/** Re-throws whatever a response stream throws as the wire error. */
async function* translated<T>(
  messages: AsyncIterable<T>,
  now: () => number,
): AsyncGenerator<T, void, undefined> {
  try {
    yield* messages;
  } catch (error) {
    throw toConnectError(error, now());
  }
}

/** Translates every error a handler throws (or a response stream ends with) into the wire error. */
export function errorInterceptor(now: () => number): Interceptor {
  return (next) => async (req) => {
    try {
      const res = await next(req);
      return res.stream ? { ...res, message: translated(res.message, now) } : res;
    } catch (error) {
      throw toConnectError(error, now());
    }
  };
}
