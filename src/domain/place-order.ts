/**
 * The PlaceOrder use case: reserve atomically (the reservation, with its outbox entry, is the
 * accepted order), then publish and complete, or leave the order to the outbox relay. Knows
 * nothing of Redis, Kafka or the wire; those come in through the ports.
 */
import type { EdgeAdmission } from '../admission/edge-admission.js';
import type { AcceptedKeys, ClosedReason } from '../admission/accepted-keys.js';
import type { SaleFlags } from '../admission/sale-flags.js';
import { fingerprintOf, hashIdempotencyKey } from '../idempotency/fingerprint.js';
import type { TicketDesk } from '../queue/ticket-desk.js';
import type { AcceptedOrder, ValidOrderRequest } from './order.js';
import { Refusal } from './refusal.js';
import type {
  DecisionCounter,
  LostSales,
  OrderPublisher,
  OrderRecorder,
  Reservation,
  ReservationStore,
  SaleAdmission,
  SoldOutOutcome,
} from './ports.js';
import type { SignedTicket } from './queue.js';

/** What the order placer needs. */
export interface OrderPlacerDeps {
  readonly store: ReservationStore;
  readonly publisher: OrderPublisher;
  readonly soldOut: SaleFlags;
  /** Sales whose window has closed (a change to the window drops the flag). */
  readonly ended: SaleFlags;
  /** Refuses a closed sale's orders without the store, but for retries of accepted ones. */
  readonly acceptedKeys: Pick<AcceptedKeys, 'refuses' | 'refresh'>;
  /** Refuses over-rate, paused and not-yet-open orders of hot sales without the store. */
  readonly admission: Pick<EdgeAdmission, 'admit' | 'refusedByScript' | 'burstOf'>;
  /** Issues queue tickets to buyers refused for the sale's rate, and checks those brought back. */
  readonly tickets: Pick<
    TicketDesk,
    | 'issue'
    | 'check'
    | 'held'
    | 'release'
    | 'knownPosition'
    | 'positionOf'
    | 'observe'
    | 'estimateWaitMs'
    | 'surelyWaiting'
  >;
  readonly recorder: OrderRecorder;
  readonly lostSales: LostSales;
  /**
   * Told when an order's decision starts and ends. An accepted order waiting for Kafka's
   * acknowledgement is decided: that wait is the broker's, and bounding it would cap
   * throughput at the bound divided by the acknowledgement's latency.
   */
  readonly deciding: DecisionCounter;
  readonly newOrderId: () => string;
  readonly now: () => number;
  /**
   * How long acknowledged orders are gathered before their completion (default 0: at the end of
   * the event loop's turn). No answer waits for a completion, so gathering costs buyers nothing.
   */
  readonly completionLingerMs?: number;
  /**
   * Told about failures that do not change the answer (e.g. a completion that will be retried,
   * or a ticket that could not be issued: the refusal goes without one).
   */
  readonly onBackgroundError: (error: unknown, context: string) => void;
}

/** An accepted order, fresh or replayed. */
export interface PlacedOrder {
  readonly order: AcceptedOrder;
  readonly replayed: boolean;
}

/** Places orders. */
export interface OrderPlacer {
  /**
   * Accepts the order (PENDING) or throws a Refusal. `answerByMs` (ms since the epoch, from the
   * caller's deadline): the answer waits for Kafka's acknowledgement until then at the latest;
   * without it, as long as a publish takes.
   */
  place(request: ValidOrderRequest, requestId: string, answerByMs?: number): Promise<PlacedOrder>;
  /**
   * Resolves once the work that goes on after answers given so far is done: publishes past
   * their caller's deadline, and completions (at shutdown, before the publisher closes).
   */
  settled(): Promise<void>;
}

/** Resolves once `work` has settled or `ms` have passed, whichever comes first (`work` goes on). */
function within(work: Promise<unknown>, ms: number): Promise<unknown> {
  if (ms <= 0) return Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  return Promise.race([work, late]).finally(() => {
    clearTimeout(timer);
  });
}

/**
 * Completions asked for within `lingerMs` (0: in the same turn of the event loop), as one store
 * call. The publisher settles a whole produce request at once, so under load its orders complete
 * together anyway; at a low rate each produce request carries one order, and without the linger
 * each order would pay a Redis round trip of its own.
 */
function batchCompletions(
  store: ReservationStore,
  lingerMs: number,
): (reservation: Reservation) => Promise<void> {
  interface Waiting {
    readonly reservation: Reservation;
    readonly resolve: () => void;
    readonly reject: (error: Error) => void;
  }
  let waiting: Waiting[] = [];
  const flush = () => {
    const batch = waiting;
    waiting = [];
    store.complete(batch.map((w) => w.reservation)).then(
      () => {
        for (const w of batch) w.resolve();
      },
      (error: unknown) => {
        for (const w of batch) w.reject(error as Error);
      },
    );
  };
  return (reservation) =>
    new Promise((resolve, reject) => {
      if (waiting.length === 0) {
        if (lingerMs > 0) setTimeout(flush, lingerMs);
        else setImmediate(flush);
      }
      waiting.push({ reservation, resolve, reject });
    });
}

/**
 * What every request refused at the edge for a closed sale is told: the same answer for all,
 * made once (the error mapping makes its wire error once too).
 */
const closedAtEdge: Readonly<Record<ClosedReason, Refusal>> = {
  SOLD_OUT: new Refusal('SOLD_OUT', 'no units left'),
  SALE_ENDED: new Refusal('SALE_ENDED', 'the sale has ended'),
};

/** Refusals of a ticket that can admit nothing any more. */
const spentTicket: ReadonlySet<string> = new Set(['TICKET_USED', 'TICKET_EXPIRED']);

/** What a buyer refused for the sale's rate is told: wait, with a place in the queue. */
const waitMessage = 'too many orders right now; wait for your turn';

/** Creates the order placer. */
export function createOrderPlacer(deps: OrderPlacerDeps): OrderPlacer {
  const { store, publisher, soldOut, ended, admission, acceptedKeys, tickets } = deps;
  /** Flags a closed sale, bringing its accepted keys up to date when the flag is new. */
  const flag = (flags: SaleFlags, sku: string) => {
    if (flags.set(sku)) acceptedKeys.refresh(sku);
  };
  /** Fresh answers the script gives only past its window and stock checks: the sale is open. */
  const openAnswers: ReadonlySet<string> = new Set([
    'RATE_LIMITED',
    'PURCHASE_LIMIT_REACHED',
    'INSUFFICIENT_STOCK',
  ]);
  /** The store found the sale open with units left: a lapsed flag's probe ends, cleared. */
  const open = (sku: string) => {
    soldOut.clear(sku);
    ended.clear(sku);
  };
  const complete = batchCompletions(store, deps.completionLingerMs ?? 0);

  /** A new ticket for the buyer; none when the queue cannot be reached (the refusal goes without). */
  const issueTicket = (request: ValidOrderRequest): Promise<SignedTicket | undefined> =>
    tickets.issue(request.sku, request.customerId).catch((e: unknown) => {
      deps.onBackgroundError(e, 'issue queue ticket');
      return undefined;
    });

  /**
   * The refusal of a buyer the sale's rate turned away: their ticket (the one they brought, or
   * one issued now) and the expected wait for its call. Without a ticket (the queue could not
   * be reached) the refusal still says when to retry.
   */
  async function queued(
    request: ValidOrderRequest,
    brought: SignedTicket | undefined,
    retryAfterMs: number,
  ): Promise<Refusal> {
    const ticket = brought ?? (await issueTicket(request));
    if (ticket === undefined) return new Refusal('RATE_LIMITED', waitMessage, { retryAfterMs });
    const position = tickets.knownPosition(ticket);
    const wait = position === undefined ? 0 : tickets.estimateWaitMs(request.sku, position);
    return new Refusal('RATE_LIMITED', waitMessage, {
      retryAfterMs: Math.max(1, wait > 0 ? wait : retryAfterMs),
      ticket,
    });
  }

  /**
   * The refusal of a buyer early for a sale that draws its early arrivals: not open yet, with
   * a ticket in the draw (the one they brought, or one issued now).
   */
  async function drawn(
    request: ValidOrderRequest,
    brought: SignedTicket | undefined,
    startsAtMs: number | undefined,
  ): Promise<Refusal> {
    const ticket = brought ?? (await issueTicket(request));
    return new Refusal('SALE_NOT_OPEN', 'the sale has not started; you are in its draw', {
      ...(startsAtMs === undefined ? {} : { startsAtMs }),
      lottery: true,
      ...(ticket === undefined ? {} : { ticket }),
    });
  }

  /** A not-yet-open refusal of a sale with a pre-queue lottery gets a ticket in the draw. */
  const withDrawTicket = async (
    request: ValidOrderRequest,
    refusal: Refusal,
    brought: SignedTicket | undefined,
  ): Promise<Refusal> =>
    refusal.reason === 'SALE_NOT_OPEN' && refusal.facts.lottery === true
      ? drawn(request, brought, refusal.facts.startsAtMs)
      : refusal;

  /** What goes on after answers: publishes past their deadline, completions. */
  const background = new Set<Promise<void>>();
  const inBackground = (work: Promise<void>, context: string) => {
    const done = work
      .catch((e: unknown) => {
        deps.onBackgroundError(e, context);
      })
      .finally(() => background.delete(done));
    background.add(done);
  };

  /**
   * A reservation is an accepted order, held by its outbox entry: the answer waits for Kafka's
   * acknowledgement while the broker is up and the caller's deadline allows, so that in the
   * usual case an accepted order is already in Kafka. The completion the ack allows (the entry
   * COMPLETED, the outbox entry gone) follows the answer: a repeat replays the order either way,
   * and an entry left by a completion that never ran is published again by the relay (the
   * worker drops the duplicate). Whatever is not done by the deadline goes on after the answer,
   * and the outbox relay publishes whatever Kafka did not acknowledge.
   */
  async function settle(
    reservation: Reservation,
    answerByMs: number | undefined,
  ): Promise<PlacedOrder> {
    const { order } = reservation;
    // Recorded while the publish is under way, so it adds no wait; a record that fails only
    // delays GetOrder until the worker writes the final status.
    const recording = deps.recorder.remember(order).catch((e: unknown) => {
      deps.onBackgroundError(e, 'record pending order');
    });
    const published = Promise.all([
      publisher.available() ? publisher.publish(order) : ('failed' as const),
      recording,
    ]).then(([outcome]) => outcome);
    // A completion that fails leaves the outbox entry, and the relay completes it later.
    inBackground(
      published.then(async (outcome) => {
        if (outcome === 'acked') await complete(reservation);
      }),
      'complete after ack',
    );
    await (answerByMs === undefined ? published : within(published, answerByMs - deps.now()));
    return { order, replayed: false };
  }

  /** One decision, with the buyer's ticket if they hold one (brought, or held at this gate). */
  async function decide(
    request: ValidOrderRequest,
    requestId: string,
    answerByMs: number | undefined,
    ticket: SignedTicket | undefined,
  ): Promise<PlacedOrder> {
    // A closed sale first: a buyer who cannot buy is told so, not told to wait; at the edge
    // unless the key may hold an accepted order (the store replays it). Then admission: a
    // ticket's call, or the sale's rate.
    const flaggedSoldOut = soldOut.has(request.sku);
    const closed = flaggedSoldOut ? 'SOLD_OUT' : ended.has(request.sku) ? 'SALE_ENDED' : null;
    let saleAdmission: SaleAdmission = 'bucket';
    if (closed === null && ticket !== undefined) {
      const position = await tickets.positionOf(ticket);
      // A drawn ticket before the draw: the sale has not started.
      if (position === undefined) throw await drawn(request, ticket, undefined);
      if (tickets.surelyWaiting(request.sku, position, admission.burstOf(request.sku)))
        throw await queued(request, ticket, 1);
      saleAdmission = { position, issuedAtMs: ticket.issuedAtMs };
    } else if (closed === null) {
      const verdict = admission.admit(request.sku);
      if (verdict instanceof Refusal) {
        if (verdict.reason !== 'RATE_LIMITED')
          throw await withDrawTicket(request, verdict, undefined);
        throw await queued(request, undefined, verdict.facts.retryAfterMs ?? 1);
      }
      saleAdmission = verdict;
    }
    const idempotencyKeyHash = hashIdempotencyKey(request.customerId, request.idempotencyKey);
    if (closed !== null && acceptedKeys.refuses(request.sku, idempotencyKeyHash, closed))
      throw closedAtEdge[closed];
    const order: AcceptedOrder = {
      orderId: deps.newOrderId(),
      sku: request.sku,
      quantity: request.quantity,
      customerId: request.customerId,
      idempotencyKeyHash,
      acceptedAtMs: deps.now(),
      requestId,
    };
    const fingerprint = fingerprintOf(request);
    deps.deciding.enter();
    let outcome: SoldOutOutcome;
    try {
      outcome = flaggedSoldOut
        ? await store.refuseSoldOut(order, fingerprint)
        : await store.reserve(order, fingerprint, saleAdmission);
    } finally {
      deps.deciding.leave();
    }
    switch (outcome.kind) {
      case 'stock-left':
        // The flag was stale (a restock whose notice this gate missed), and the check stored
        // nothing: decide again in full, with the ticket's call or the sale's rate.
        soldOut.clear(request.sku);
        return decide(request, requestId, answerByMs, ticket);
      case 'reserved':
        if (outcome.unitsLeft === 0) flag(soldOut, request.sku);
        else open(request.sku);
        if (ticket !== undefined) tickets.release(ticket);
        return settle(outcome.reservation, answerByMs);
      case 'replay-accepted':
        return { order: outcome.order, replayed: true };
      case 'queued': {
        open(request.sku);
        tickets.observe(request.sku, outcome.nowServing);
        const refusal = await queued(request, ticket, outcome.retryAfterMs);
        admission.refusedByScript(request.sku, refusal);
        throw refusal;
      }
      case 'refused': {
        const { refusal } = outcome;
        // Only a counter at zero flags the sale: fewer units than asked is not sold out.
        if (refusal.reason === 'SOLD_OUT' && !refusal.replayed) flag(soldOut, request.sku);
        if (refusal.reason === 'SALE_ENDED' && !refusal.replayed) flag(ended, request.sku);
        if (openAnswers.has(refusal.reason) && !refusal.replayed) open(request.sku);
        admission.refusedByScript(request.sku, refusal);
        // The live store does not have the sale: lost (reloaded by itself) or unknown.
        if (refusal.reason === 'SALE_NOT_FOUND' || refusal.reason === 'SALE_STATE_RELOADING')
          throw await deps.lostSales.refusalFor(request.sku);
        throw await withDrawTicket(request, refusal, ticket);
      }
    }
  }

  return {
    async settled() {
      while (background.size > 0) await Promise.all(background);
    },
    async place(request, requestId, answerByMs) {
      // A ticket is input: checked first (signature, sale, customer), whatever the sale's state.
      const brought =
        request.queueTicket === undefined
          ? undefined
          : tickets.check(request.queueTicket, request.sku, request.customerId);
      if (brought !== undefined) return decide(request, requestId, answerByMs, brought);
      // A buyer retrying without the ticket this gate gave them (a client that only honours
      // RetryInfo) keeps their place; a ticket found spent leaves them a newcomer.
      const held = tickets.held(request.sku, request.customerId);
      if (held === undefined) return decide(request, requestId, answerByMs, undefined);
      try {
        return await decide(request, requestId, answerByMs, held);
      } catch (error) {
        if (!(error instanceof Refusal) || !spentTicket.has(error.reason)) throw error;
        tickets.release(held);
        return decide(request, requestId, answerByMs, undefined);
      }
    },
  };
}
