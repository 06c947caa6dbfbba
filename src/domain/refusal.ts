/**
 * Refusals: the closed set of reasons a request is turned down, as a domain error. Only the
 * gate's error mapping (src/gate/error-mapping.ts) turns them into wire errors.
 */
import type { SignedTicket } from './queue.js';

/**
 * Every refusal reason; the names match `RefusalReason` in proto/fluxgate/v1/errors.proto
 * (all but IDEMPOTENCY_KEY_IN_FLIGHT, which the gate no longer sends).
 */
export const refusalReasons = [
  'RATE_LIMITED',
  'SOLD_OUT',
  'INSUFFICIENT_STOCK',
  'PURCHASE_LIMIT_REACHED',
  'SALE_NOT_OPEN',
  'SALE_PAUSED',
  'SALE_ENDED',
  'SALE_NOT_FOUND',
  'ORDER_NOT_FOUND',
  'INVALID_ARGUMENT',
  'IDEMPOTENCY_KEY_REUSED',
  'DEPENDENCY_UNAVAILABLE',
  'UNAUTHENTICATED',
  'OUTCOME_UNKNOWN',
  'SALE_STATE_RELOADING',
  'CUSTOMER_MISMATCH',
  'GATE_OVERLOADED',
  'TICKET_INVALID',
  'TICKET_NOT_YOURS',
  'TICKET_EXPIRED',
  'TICKET_USED',
] as const;

/** A machine-readable refusal reason. */
export type RefusalReason = (typeof refusalReasons)[number];

/** Facts that go with a refusal; which ones are set depends on the reason. */
export interface RefusalFacts {
  /**
   * How long to wait before retrying, in ms: RATE_LIMITED (the admission rate), and answers
   * about a dependency when the gate knows when it may be back (the error mapping gives every
   * answer that invites a retry a delay, this one or a default).
   */
  readonly retryAfterMs?: number;
  /** PURCHASE_LIMIT_REACHED: units the customer may still buy. */
  readonly remaining?: number;
  /** INSUFFICIENT_STOCK: units left when the order was refused (fewer than asked, above 0). */
  readonly unitsLeft?: number;
  /** SALE_NOT_OPEN: when the sale opens, ms since the epoch. */
  readonly startsAtMs?: number;
  /** INVALID_ARGUMENT: the offending field, as named in the proto. */
  readonly field?: string;
  /** DEPENDENCY_UNAVAILABLE, OUTCOME_UNKNOWN: which dependency failed. */
  readonly dependency?: 'redis' | 'kafka' | 'postgresql';
  /**
   * RATE_LIMITED (the sale's rate) and SALE_NOT_OPEN (a sale with a pre-queue lottery): the
   * caller's place in the sale's queue, issued now or the one the request carried.
   */
  readonly ticket?: SignedTicket;
  /** SALE_NOT_OPEN: the sale queues its early arrivals for a draw (the gate issues tickets). */
  readonly lottery?: boolean;
  /** TICKET_INVALID: what is wrong with the ticket. */
  readonly problem?: 'malformed' | 'signature' | 'sale';
  /** TICKET_EXPIRED: when the ticket's turn ended, ms since the epoch. */
  readonly calledUntilMs?: number;
}

/**
 * A request was refused. `replayed` is true when the answer came from the idempotency store.
 *
 * A refusal is an answer, not a fault: it carries no stack trace, whose capture was the
 * largest single cost of a refusal decided without Redis (docs/performance.md). A refusal
 * caused by a fault keeps that fault, with its trace, as `cause`.
 */
export class Refusal extends Error {
  /** Why. */
  readonly reason: RefusalReason;
  /** Facts for the client (retry delay, remaining units, ...). */
  readonly facts: RefusalFacts;
  /** True when this is the stored answer of an earlier request with the same key. */
  readonly replayed: boolean;

  constructor(
    reason: RefusalReason,
    message: string,
    facts: RefusalFacts = {},
    options: { replayed?: boolean; cause?: unknown } = {},
  ) {
    // withoutStackTrace (below) inline: super() cannot be called from a callback.
    const traceLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message, { cause: options.cause });
    Error.stackTraceLimit = traceLimit;
    this.name = 'Refusal';
    this.reason = reason;
    this.facts = facts;
    this.replayed = options.replayed ?? false;
  }
}

/**
 * `make()` with no stack trace captured by the errors it constructs: for errors that are
 * answers (a refusal, the wire error made of it), whose trace nobody reads.
 */
export function withoutStackTrace<T>(make: () => T): T {
  const traceLimit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return make();
  } finally {
    Error.stackTraceLimit = traceLimit;
  }
}

/** Shorthand for an INVALID_ARGUMENT refusal about one field. */
export function invalidArgument(field: string, message: string): Refusal {
  return new Refusal('INVALID_ARGUMENT', `${field}: ${message}`, { field });
}
