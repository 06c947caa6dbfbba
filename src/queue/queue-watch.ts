/**
 * Where tickets stand: one read for QueueService.CheckTicket, and for WatchTicket a poll per
 * sale (not per watcher) that every watcher of the sale at this gate shares, so 500 buyers
 * watching cost Redis one call per poll interval.
 */
import {
  isFinalTicketState,
  type SignedTicket,
  type TicketStanding,
  type TicketState,
} from '../domain/queue.js';
import { Refusal } from '../domain/refusal.js';
import type { QueueRead, QueueReader, QueueSnapshot } from './ports.js';
import type { TicketDesk } from './ticket-desk.js';

/** Tuning. */
export interface QueueWatchOptions {
  /** How often a sale with watchers is read, ms. */
  readonly pollMs: number;
  readonly onError?: (error: unknown, sku: string) => void;
}

/** True when a watch ends with this standing. */
export function isFinalStanding(standing: TicketStanding): boolean {
  return isFinalTicketState(standing.state);
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
    let position = this.desk.knownPosition(ticket);
    let read = await this.read(ticket, position);
    if (position === undefined) {
      // A drawn ticket whose draw this gate had not seen: the read brought it, if it is made.
      position = this.desk.knownPosition(ticket);
      if (position !== undefined) read = await this.read(ticket, position);
    }
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
        const position = this.desk.knownPosition(ticket);
        let next = this.standing(ticket, position, { queue: snapshot, used: false, turnEndsMs: 0 });
        if (next.state === 'CALLED' || next.state === 'EXPIRED') next = await this.check(ticket);
        if (
          next.state !== standing.state ||
          next.peopleAhead !== standing.peopleAhead ||
          next.position !== standing.position
        ) {
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

  /** One read of the queue for `ticket` (at `position`, when known), learning a draw it brings. */
  private async read(ticket: SignedTicket, position: number | undefined): Promise<QueueRead> {
    const read = await this.reader.read(
      ticket.sku,
      position === undefined ? undefined : { position, issuedAtMs: ticket.issuedAtMs },
    );
    if (read === undefined) throw new Refusal('SALE_NOT_FOUND', `no sale with sku ${ticket.sku}`);
    this.seen(ticket.sku, read.queue);
    return read;
  }

  /** What every read tells the desk: where the queue stands, and the draw once made. */
  private seen(sku: string, queue: QueueSnapshot): void {
    this.desk.observe(sku, queue.serving, queue.rate);
    this.desk.learnDraw(sku, queue.draw);
  }

  /** A drawn ticket before the draw (`position` undefined) waits with no place yet. */
  private standing(
    ticket: SignedTicket,
    position: number | undefined,
    read: QueueRead,
  ): TicketStanding {
    const { queue } = read;
    const place = position ?? Number.POSITIVE_INFINITY;
    const state: TicketState = read.used
      ? 'USED'
      : queue.nowMs >= queue.endsAtMs
        ? 'SALE_ENDED'
        : queue.unitsLeft <= 0
          ? 'SOLD_OUT'
          : place > queue.serving
            ? 'WAITING'
            : read.turnEndsMs === 0 || read.turnEndsMs > queue.nowMs
              ? 'CALLED'
              : 'EXPIRED';
    const peopleAhead = position === undefined ? 0 : Math.max(0, position - queue.serving - 1);
    const untilStartMs = Math.max(0, queue.startsAtMs - queue.nowMs);
    const estimatedWaitMs =
      state !== 'WAITING'
        ? 0
        : position === undefined
          ? untilStartMs
          : untilStartMs + this.desk.estimateWaitMs(ticket.sku, position);
    return {
      sku: ticket.sku,
      state,
      number: ticket.number,
      position: position ?? 0,
      nowServing: queue.serving,
      peopleAhead,
      estimatedWaitMs,
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
        this.seen(sku, read.queue);
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
