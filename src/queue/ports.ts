/** What the waiting room needs from the sale's queue in the live store (src/redis/queue-store.ts). */
import type { TicketAdmission } from '../domain/ports.js';

/** A block of numbers as the sale's queue handed it out, and the queue as it stood then. */
export interface TicketBlock {
  /** The block's last number (it holds the `count` numbers up to this one). */
  readonly last: number;
  /** The highest position called. */
  readonly nowServing: number;
  /** The sale's admission rate, per second. */
  readonly rate: number;
  /** Taken before the start of a sale with a pre-queue lottery: its tickets are drawn. */
  readonly beforeDraw: boolean;
}

/** Where blocks of numbers come from: the sale's queue. */
export interface TicketNumbers {
  /** Takes `count` numbers; undefined when the sale is not in the live store. */
  take(sku: string, count: number): Promise<TicketBlock | undefined>;
}

/** A sale's pre-queue lottery as the live store holds it. */
export interface Draw {
  /** The seed, hex. */
  readonly seed: string;
  /** Numbers the draw orders (handed out before the start); 0 until the start. */
  readonly entrants: number;
}

/** A sale's queue and window as the live store holds them, by the Redis clock. */
export interface QueueSnapshot {
  readonly nowMs: number;
  readonly serving: number;
  readonly issued: number;
  readonly unitsLeft: number;
  readonly startsAtMs: number;
  readonly endsAtMs: number;
  readonly paused: boolean;
  readonly rate: number;
  /** The sale's pre-queue lottery; undefined when it has none. */
  readonly draw: Draw | undefined;
}

/** One read of the queue, with one ticket's use and turn. */
export interface QueueRead {
  readonly queue: QueueSnapshot;
  /** The ticket admitted an order. */
  readonly used: boolean;
  /** The end of the ticket's turn, ms (0 when it is not called). */
  readonly turnEndsMs: number;
}

/** Reads a sale's queue (advancing it to now). */
export interface QueueReader {
  /** Undefined when the sale is not in the live store. */
  read(sku: string, ticket?: TicketAdmission): Promise<QueueRead | undefined>;
}
