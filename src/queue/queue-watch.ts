/**
 * Where tickets stand: one read for QueueService.CheckTicket, and for WatchTicket a poll per
 * sale (not per watcher) that every watcher of the sale at this gate shares, so 500 buyers
 * watching cost Redis one call per poll interval.
 */
import type { TicketAdmission } from '../domain/ports.js';
import type { SignedTicket, TicketStanding, TicketState } from '../domain/queue.js';
import { Refusal } from '../domain/refusal.js';
import type { TicketDesk } from './ticket-desk.js';

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

/** Tuning. */
export interface QueueWatchOptions {
  /** How often a sale with watchers is read, ms. */
  readonly pollMs: number;
  readonly onError?: (error: unknown, sku: string) => void;
}

/** States after which a ticket's standing no longer changes (while the sale stays as it is). */
const finalStates: ReadonlySet<TicketState> = new Set([
  'CALLED',
  'EXPIRED',
  'USED',
  'SOLD_OUT',
  'SALE_ENDED',
]);

/** True when a watch ends with this standing. */
export function isFinalStanding(standing: TicketStanding): boolean {
  return finalStates.has(standing.state);
}

/** One sale polled for its watchers. */
interface Poll {
  readonly listeners: Set<(snapshot: QueueSnapshot) => void>;
  timer: NodeJS.Timeout | undefined;
  reading: boolean;
}

/** Check and watch tickets at one gate. */
export class QueueWatch {
  private readonly polls = new Map<string, Poll>();

  constructor(
    private readonly reader: QueueReader,
    private readonly desk: TicketDesk,
    private readonly options: QueueWatchOptions,
  ) {}

  /** Where the ticket stands now. */
  async check(ticket: SignedTicket): Promise<TicketStanding> {
    const position = this.desk.position(ticket);
    const read = await this.reader.read(ticket.sku, {
      position,
      issuedAtMs: ticket.issuedAtMs,
    });
    if (read === undefined) throw new Refusal('SALE_NOT_FOUND', `no sale with sku ${ticket.sku}`);
    this.desk.observe(ticket.sku, read.queue.serving, read.queue.rate);
    return this.standing(ticket, position, read);
  }

  /**
   * Where the ticket stands: at once, then at every change, until a final state or `signal`.
   * Called is told from an exact read of the ticket (its turn's end).
   */
  async *watch(ticket: SignedTicket, signal: AbortSignal): AsyncGenerator<TicketStanding> {
    let standing = await this.check(ticket);
    yield standing;
    if (isFinalStanding(standing)) return;
    const position = this.desk.position(ticket);
    let latest: QueueSnapshot | undefined;
    let wake: (() => void) | undefined;
    const listener = (snapshot: QueueSnapshot) => {
      latest = snapshot;
      wake?.();
    };
    const stop = this.listen(ticket.sku, listener);
    const aborted = () => wake?.();
    signal.addEventListener('abort', aborted);
    try {
      while (!signal.aborted) {
        await new Promise<void>((resolve) => {
          wake = resolve;
          if (latest !== undefined || signal.aborted) resolve();
        });
        wake = undefined;
        const snapshot = latest;
        latest = undefined;
        if (snapshot === undefined) continue;
        let next = this.standing(ticket, position, { queue: snapshot, used: false, turnEndsMs: 0 });
        if (next.state === 'CALLED' || next.state === 'EXPIRED') next = await this.check(ticket);
        if (next.state !== standing.state || next.peopleAhead !== standing.peopleAhead) {
          standing = next;
          yield standing;
          if (isFinalStanding(standing)) return;
        }
      }
    } finally {
      signal.removeEventListener('abort', aborted);
      stop();
    }
  }

  /** The sale changed (sold out, restocked, paused...): its watchers hear of it at once. */
  wake(sku: string): void {
    const poll = this.polls.get(sku);
    if (poll === undefined || poll.reading) return;
    clearTimeout(poll.timer);
    void this.poll(sku, poll);
  }

  /** Stops every poll (the gate is closing). */
  close(): void {
    for (const poll of this.polls.values()) clearTimeout(poll.timer);
    this.polls.clear();
  }

  private standing(ticket: SignedTicket, position: number, read: QueueRead): TicketStanding {
    const { queue } = read;
    const state: TicketState = read.used
      ? 'USED'
      : queue.nowMs >= queue.endsAtMs
        ? 'SALE_ENDED'
        : queue.unitsLeft <= 0
          ? 'SOLD_OUT'
          : position > queue.serving
            ? 'WAITING'
            : read.turnEndsMs === 0 || read.turnEndsMs > queue.nowMs
              ? 'CALLED'
              : 'EXPIRED';
    const peopleAhead = Math.max(0, position - queue.serving - 1);
    return {
      sku: ticket.sku,
      state,
      number: ticket.number,
      position,
      nowServing: queue.serving,
      peopleAhead,
      estimatedWaitMs: state === 'WAITING' ? this.desk.estimateWaitMs(ticket.sku, position) : 0,
      admissionRate: this.desk.measuredRate(ticket.sku),
      ...(read.turnEndsMs > 0 ? { calledUntilMs: read.turnEndsMs } : {}),
    };
  }

  private listen(sku: string, listener: (snapshot: QueueSnapshot) => void): () => void {
    let poll = this.polls.get(sku);
    if (poll === undefined) {
      poll = { listeners: new Set(), timer: undefined, reading: false };
      this.polls.set(sku, poll);
      const started = poll;
      started.timer = setTimeout(() => void this.poll(sku, started), this.options.pollMs);
    }
    poll.listeners.add(listener);
    const owner = poll;
    return () => {
      owner.listeners.delete(listener);
      if (owner.listeners.size === 0 && this.polls.get(sku) === owner) {
        clearTimeout(owner.timer);
        this.polls.delete(sku);
      }
    };
  }

  private async poll(sku: string, poll: Poll): Promise<void> {
    poll.reading = true;
    try {
      const read = await this.reader.read(sku);
      if (read !== undefined) {
        this.desk.observe(sku, read.queue.serving, read.queue.rate);
        for (const listener of poll.listeners) listener(read.queue);
      }
    } catch (error) {
      this.options.onError?.(error, sku);
    } finally {
      poll.reading = false;
      if (this.polls.get(sku) === poll)
        poll.timer = setTimeout(() => void this.poll(sku, poll), this.options.pollMs);
    }
  }
}
