/**
 * The gate's ticket desk: issues queue tickets to buyers refused for the sale's rate, and
 * checks the tickets buyers bring back.
 *
 * Numbers come from the sale's queue in blocks (take-tickets.lua), so a flood of refusals costs
 * one Redis call per block, not per ticket. A block holds half the tickets this gate was asked
 * for in the last `blockMaxAgeMs` (at least one, at most `maxBlock`), and a block older than
 * that is dropped, its unused numbers never handed out: the queue calls them all the same, so
 * each is an admission lost, and the size keeps that loss to about half a block per block at a
 * steady demand and to nothing at a trickle (blocks of one). The age limit gives the fairness
 * bound
 * (docs/waiting-room.md): a gate numbers its own buyers in arrival order, and a buyer can be
 * overtaken only by buyers who arrived at most `blockMaxAgeMs` after them at another gate, at
 * most `maxBlock - 1` of them per other gate.
 *
 * A customer holds one waiting ticket per sale at this gate: refused again while it waits, they
 * get the same ticket back, so retrying without it buys no better place.
 */
import type { SignedTicket } from '../domain/queue.js';
import { Refusal } from '../domain/refusal.js';
import { drawRanks } from './draw.js';
import type { Draw, QueueReader, TicketNumbers } from './ports.js';
import type { TicketSigner } from './ticket-signer.js';

/** Tuning; the defaults are the gate's. */
export interface TicketDeskOptions {
  /** Largest block of numbers one call takes. */
  readonly maxBlock: number;
  /** A block is used within this long of being taken, or dropped, ms. */
  readonly blockMaxAgeMs: number;
  /** Waiting tickets remembered per sale (one per customer); the oldest are forgotten. */
  readonly rememberPerSale?: number;
  readonly now?: () => number;
}

/** Counters for metrics. */
export interface TicketDeskCounts {
  readonly ticketsIssued: number;
  readonly blocksTaken: number;
}

/** A measurement of the queue: the position served at a local instant. */
interface Sample {
  readonly atMs: number;
  readonly serving: number;
}

/** How long the admission rate is measured over, ms. */
const rateWindowMs = 10_000;

/** One sale at this desk. */
interface SaleDesk {
  next: number;
  last: number;
  takenAt: number;
  /** The block was taken before the start of a sale with a pre-queue lottery. */
  beforeDraw: boolean;
  taking: Promise<void> | undefined;
  /** Tickets asked for in the current demand window, in the one before, and when it began. */
  asked: number;
  askedBefore: number;
  windowStart: number;
  /** Waiting tickets by customer, oldest first. */
  readonly waiting: Map<string, SignedTicket>;
  /** The sale's rate and burst as last heard, and the queue's recent positions. */
  rate: number;
  samples: Sample[];
}

/** Issues and checks queue tickets for every sale, at one gate. */
export class TicketDesk {
  private readonly sales = new Map<string, SaleDesk>();
  /** Drawn sales: each number's rank (src/queue/draw.ts). */
  private readonly draws = new Map<string, Uint32Array>();
  private readonly now: () => number;
  private readonly remember: number;
  private ticketsIssued = 0;
  private blocksTaken = 0;

  constructor(
    private readonly numbers: TicketNumbers & QueueReader,
    private readonly signer: TicketSigner,
    private readonly options: TicketDeskOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.remember = options.rememberPerSale ?? 100_000;
  }

  /** A ticket for a customer refused for the sale's rate: their waiting one, or a new one. */
  async issue(sku: string, customerId: string): Promise<SignedTicket> {
    const desk = this.desk(sku);
    let counted = false;
    for (;;) {
      const known = desk.waiting.get(customerId);
      if (known !== undefined) {
        const position = this.knownPosition(known);
        if (position === undefined || position > this.serving(desk)) return known;
      }
      const now = this.now();
      if (!counted) {
        this.countDemand(desk, now);
        counted = true;
      }
      if (desk.next <= desk.last && now - desk.takenAt <= this.options.blockMaxAgeMs) {
        const ticket = this.signer.sign({
          sku,
          customerId,
          number: desk.next++,
          issuedAtMs: now,
          drawn: desk.beforeDraw,
        });
        desk.waiting.delete(customerId);
        desk.waiting.set(customerId, ticket);
        if (desk.waiting.size > this.remember) {
          const oldest = desk.waiting.keys().next().value;
          if (oldest !== undefined) desk.waiting.delete(oldest);
        }
        this.ticketsIssued++;
        return ticket;
      }
      await (desk.taking ??= this.take(sku, desk));
    }
  }

  /** The ticket this gate gave the customer for the sale and has not seen spent, if any. */
  held(sku: string, customerId: string): SignedTicket | undefined {
    return this.sales.get(sku)?.waiting.get(customerId);
  }

  /** The ticket admitted an order, or can no longer: the customer holds none here any more. */
  release(ticket: SignedTicket): void {
    const waiting = this.sales.get(ticket.sku)?.waiting;
    if (waiting?.get(ticket.customerId)?.token === ticket.token) waiting.delete(ticket.customerId);
  }

  /**
   * The ticket a PlaceOrder carries, checked against the order: it must be ours, for this sale
   * and for this customer. Throws the refusal that says what is wrong.
   */
  check(token: string, sku: string, customerId: string): SignedTicket {
    const ticket = this.read(token, 'queue_ticket');
    if (ticket.sku !== sku)
      throw new Refusal('TICKET_INVALID', 'queue_ticket: the ticket is for another sale', {
        field: 'queue_ticket',
        problem: 'sale',
      });
    if (ticket.customerId !== customerId)
      throw new Refusal('TICKET_NOT_YOURS', 'the queue ticket was issued to another customer');
    return ticket;
  }

  /** The ticket a token holds, whoever asks; throws TICKET_INVALID naming `field`. */
  read(token: string, field = 'ticket'): SignedTicket {
    const ticket = this.signer.verify(token);
    if (ticket === 'malformed')
      throw new Refusal('TICKET_INVALID', `${field}: not a queue ticket`, {
        field,
        problem: 'malformed',
      });
    if (ticket === 'signature')
      throw new Refusal('TICKET_INVALID', `${field}: the ticket was not issued by this shop`, {
        field,
        problem: 'signature',
      });
    return ticket;
  }

  /**
   * A ticket's place in the order of admission, as far as this gate knows: its number, or for
   * a drawn ticket its rank once the draw is known here (undefined before).
   */
  knownPosition(ticket: SignedTicket): number | undefined {
    if (!ticket.drawn) return ticket.number;
    const rank = this.draws.get(ticket.sku)?.[ticket.number];
    return rank === undefined || rank === 0 ? undefined : rank;
  }

  /**
   * A ticket's place in the order of admission, reading the sale's draw when a drawn ticket
   * needs it; undefined while the sale has not started (nothing is drawn yet).
   */
  async positionOf(ticket: SignedTicket): Promise<number | undefined> {
    const known = this.knownPosition(ticket);
    if (known !== undefined || !ticket.drawn) return known;
    const read = await this.numbers.read(ticket.sku);
    this.learnDraw(ticket.sku, read?.queue.draw);
    return this.knownPosition(ticket);
  }

  /** The sale's draw as read from the live store: once made (at the start), ranked here once. */
  learnDraw(sku: string, draw: Draw | undefined): void {
    if (draw === undefined || draw.entrants === 0 || this.draws.has(sku)) return;
    this.draws.set(sku, drawRanks(draw.seed, draw.entrants));
  }

  /** The queue was seen serving `serving` (and the sale's rate `rate`) just now. */
  observe(sku: string, serving: number, rate?: number): void {
    const desk = this.desk(sku);
    if (rate !== undefined) desk.rate = rate;
    const now = this.now();
    const { samples } = desk;
    const lastSample = samples.at(-1);
    if (lastSample !== undefined && serving < lastSample.serving) desk.samples = []; // reloaded
    desk.samples.push({ atMs: now, serving });
    while (desk.samples.length > 2 && (desk.samples[0]?.atMs ?? now) < now - rateWindowMs)
      desk.samples.shift();
  }

  /** Tickets called per second, as measured; the sale's rate until enough is seen. */
  measuredRate(sku: string): number {
    const desk = this.desk(sku);
    const first = desk.samples[0];
    const last = desk.samples.at(-1);
    if (first === undefined || last === undefined || last.atMs - first.atMs < 1000)
      return desk.rate;
    return ((last.serving - first.serving) * 1000) / (last.atMs - first.atMs);
  }

  /** The position served as last seen (0 before anything is seen). */
  private nowServing(sku: string): number {
    return this.serving(this.desk(sku));
  }

  /** Expected wait until `position` is called, ms (0 once it is). */
  estimateWaitMs(sku: string, position: number): number {
    const ahead = position - this.nowServing(sku);
    if (ahead <= 0) return 0;
    const rate = this.measuredRate(sku);
    return rate > 0 ? Math.ceil((ahead * 1000) / rate) : 0;
  }

  /**
   * True when `position` certainly has not been called: it is beyond anything the queue can
   * have reached since it was last seen (at the sale's rate, plus its burst and a second's
   * margin for the clocks). Such an order is refused without Redis.
   */
  surelyWaiting(sku: string, position: number, burst: number): boolean {
    const desk = this.desk(sku);
    const last = desk.samples.at(-1);
    if (last === undefined || desk.rate <= 0) return false;
    const reach = last.serving + (desk.rate * (this.now() - last.atMs + 1000)) / 1000 + burst + 1;
    return position > reach;
  }

  /** Forgets what the desk knew of the sale's queue (the sale changed; a draw stays made). */
  forget(sku: string): void {
    const desk = this.sales.get(sku);
    if (desk !== undefined) desk.samples = [];
  }

  /** Counters for metrics. */
  counts(): TicketDeskCounts {
    return { ticketsIssued: this.ticketsIssued, blocksTaken: this.blocksTaken };
  }

  private serving(desk: SaleDesk): number {
    return desk.samples.at(-1)?.serving ?? 0;
  }

  private desk(sku: string): SaleDesk {
    let desk = this.sales.get(sku);
    if (desk === undefined) {
      desk = {
        next: 1,
        last: 0,
        takenAt: Number.NEGATIVE_INFINITY,
        beforeDraw: false,
        taking: undefined,
        asked: 0,
        askedBefore: 0,
        windowStart: Number.NEGATIVE_INFINITY,
        waiting: new Map(),
        rate: 0,
        samples: [],
      };
      this.sales.set(sku, desk);
    }
    return desk;
  }

  /** Counts one ticket asked for, in windows of `blockMaxAgeMs`. */
  private countDemand(desk: SaleDesk, now: number): void {
    const age = this.options.blockMaxAgeMs;
    if (now - desk.windowStart >= age) {
      desk.askedBefore = now - desk.windowStart < 2 * age ? desk.asked : 0;
      desk.asked = 0;
      desk.windowStart = now;
    }
    desk.asked++;
  }

  /** Half the tickets asked for over the last `blockMaxAgeMs`, within 1 and `maxBlock`. */
  private blockSize(desk: SaleDesk): number {
    const age = this.options.blockMaxAgeMs;
    const before = desk.askedBefore * Math.max(0, 1 - (this.now() - desk.windowStart) / age);
    const demand = desk.asked + before;
    return Math.max(1, Math.min(this.options.maxBlock, Math.floor(demand / 2)));
  }

  private async take(sku: string, desk: SaleDesk): Promise<void> {
    try {
      const size = this.blockSize(desk);
      this.blocksTaken++;
      const block = await this.numbers.take(sku, size);
      if (block === undefined) throw new Refusal('SALE_NOT_FOUND', `no sale with sku ${sku}`);
      desk.next = block.last - size + 1;
      desk.last = block.last;
      desk.takenAt = this.now();
      desk.beforeDraw = block.beforeDraw;
      this.observe(sku, block.nowServing, block.rate);
    } finally {
      desk.taking = undefined;
    }
  }
}
