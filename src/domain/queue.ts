/**
 * The waiting room's concepts: a queue ticket holds a buyer's place in a sale's queue, in order
 * of arrival; the sale calls tickets in order at its admission rate, and a called ticket admits
 * one order without competing for the rate (docs/waiting-room.md).
 */

/** What a ticket says, signed by the gate that issued it. */
export interface QueueTicket {
  readonly sku: string;
  readonly customerId: string;
  /** Order of arrival in the sale's queue, from 1. */
  readonly number: number;
  /** When it was issued, ms since the epoch (gate clock). */
  readonly issuedAtMs: number;
  /**
   * Issued before the start of a sale with a pre-queue lottery: its place is its number's rank
   * in the draw made at the start, not its number.
   */
  readonly drawn: boolean;
}

/** A ticket and its token: the signed text the buyer keeps and sends back. */
export interface SignedTicket extends QueueTicket {
  readonly token: string;
}

/** Where a ticket stands. */
export type TicketState = 'WAITING' | 'CALLED' | 'EXPIRED' | 'USED' | 'SOLD_OUT' | 'SALE_ENDED';

const finalTicketStates: ReadonlySet<string> = new Set<TicketState>([
  'CALLED',
  'EXPIRED',
  'USED',
  'SOLD_OUT',
  'SALE_ENDED',
]);

/**
 * True for the states after which a ticket's standing no longer changes (while the sale stays
 * as it is), where WatchTicket ends. Takes the state's name, so that pages holding the proto
 * enum can ask too (`TicketState[value]`).
 */
export function isFinalTicketState(state: string): boolean {
  return finalTicketStates.has(state);
}

/** Where a ticket stands at one instant (the gate's QueueService answer). */
export interface TicketStanding {
  readonly sku: string;
  readonly state: TicketState;
  readonly number: number;
  /**
   * Place in the order of admission: the number, or its rank in a pre-queue lottery (0 until
   * the draw, at the start).
   */
  readonly position: number;
  readonly nowServing: number;
  readonly peopleAhead: number;
  /** WAITING: expected wait until the call, ms. */
  readonly estimatedWaitMs: number;
  /** Tickets called per second, measured. */
  readonly admissionRate: number;
  /** CALLED, EXPIRED: the end of the ticket's turn, ms since the epoch. */
  readonly calledUntilMs?: number;
}
