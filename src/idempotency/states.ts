/**
 * The life of an idempotency entry. The Lua scripts see the same names through the prelude
 * that src/redis/scripts.ts generates, so they are spelled here only.
 *
 * - RESERVED: the order is accepted and holds its units; its outbox entry carries it until
 *   Kafka acknowledges it. A repeat gets the accepted order again.
 * - COMPLETED: Kafka acknowledged the order; a repeat gets the accepted order again.
 * - REFUSED: the request was refused for good (sold out, limit, sale ended...); a repeat gets
 *   the same refusal.
 */
export const entryStates = {
  RESERVED: 'RESERVED',
  COMPLETED: 'COMPLETED',
  REFUSED: 'REFUSED',
} as const;

/** A state of an idempotency entry. */
export type EntryState = (typeof entryStates)[keyof typeof entryStates];
