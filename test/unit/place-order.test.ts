/**
 * The PlaceOrder use case with in-memory fakes of its ports: what the buyer is told, and what
 * stays in the outbox, for each way a publish can end, for a broker known to be down, for a
 * caller's deadline, and for a sale the live store lost.
 */
import { describe, expect, test, vi } from 'vitest';
import type { AcceptedOrder } from '../../src/domain/order.js';
import { createOrderPlacer, type OrderPlacerDeps } from '../../src/domain/place-order.js';
import { fingerprintOf, hashIdempotencyKey } from '../../src/idempotency/fingerprint.js';
import type {
  OrderPublisher,
  PublishOutcome,
  Reservation,
  ReservationOutcome,
  ReservationStore,
  SaleAdmission,
  SoldOutOutcome,
} from '../../src/domain/ports.js';
import { Refusal } from '../../src/domain/refusal.js';
import type { EdgeVerdict } from '../../src/admission/edge-admission.js';
import { AcceptedKeys } from '../../src/admission/accepted-keys.js';
import { SaleFlags } from '../../src/admission/sale-flags.js';
import { memoryTicketDesk } from '../support/tickets.js';

/** A store with one sale's stock and idempotency entries, and the same rules as the Lua script's core. */
class FakeStore implements ReservationStore {
  stock: number;
  readonly entries = new Map<
    string,
    { fp: string; state: 'RESERVED' | 'COMPLETED'; order: AcceptedOrder }
  >();
  readonly outbox = new Map<string, AcceptedOrder>();
  storeCalls = 0;
  /** How the sale admitted each reserve call. */
  readonly admissions: SaleAdmission[] = [];
  /** Queues every reservation (the sale's bucket is dry). */
  dry = false;
  /** The live store lost the sale: every reservation is refused SALE_NOT_FOUND. */
  lost = false;
  /** The sale's window has closed: every new request is refused SALE_ENDED. */
  ended = false;
  constructor(stock: number) {
    this.stock = stock;
  }
  async reserve(
    order: AcceptedOrder,
    fp: string,
    admission: SaleAdmission = 'bucket',
  ): Promise<ReservationOutcome> {
    this.storeCalls++;
    this.admissions.push(admission);
    const known = this.entries.get(order.idempotencyKeyHash);
    if (known) {
      if (known.fp !== fp)
        return { kind: 'refused', refusal: new Refusal('IDEMPOTENCY_KEY_REUSED', 'reused') };
      return { kind: 'replay-accepted', order: known.order };
    }
    if (this.lost) return { kind: 'refused', refusal: new Refusal('SALE_NOT_FOUND', 'no sale') };
    if (this.ended) return { kind: 'refused', refusal: new Refusal('SALE_ENDED', 'ended') };
    if (this.dry) return { kind: 'queued', nowServing: 0, retryAfterMs: 40 };
    if (this.stock <= 0) return { kind: 'refused', refusal: new Refusal('SOLD_OUT', 'sold out') };
    if (this.stock < order.quantity) {
      const facts = { unitsLeft: this.stock };
      return { kind: 'refused', refusal: new Refusal('INSUFFICIENT_STOCK', 'too few', facts) };
    }
    this.stock -= order.quantity;
    const entryId = `${this.outbox.size}-0`;
    this.outbox.set(entryId, order);
    this.entries.set(order.idempotencyKeyHash, { fp, state: 'RESERVED', order });
    return { kind: 'reserved', reservation: { order, entryId }, unitsLeft: this.stock };
  }
  soldOutChecks = 0;
  async refuseSoldOut(order: AcceptedOrder): Promise<SoldOutOutcome> {
    this.soldOutChecks++;
    const known = this.entries.get(order.idempotencyKeyHash);
    if (known) return { kind: 'replay-accepted', order: known.order };
    if (this.stock > 0) return { kind: 'stock-left' };
    return { kind: 'refused', refusal: new Refusal('SOLD_OUT', 'sold out (flag)') };
  }
  /** Every completion waits for this first (a slow Redis). */
  completionGate: Promise<void> = Promise.resolve();
  /** Every completion fails with this (Redis gone). */
  completionError: Error | undefined;
  /** The orders of each completion call, in call order. */
  completions: number[] = [];
  async complete(rs: readonly Reservation[]): Promise<void> {
    this.completions.push(rs.length);
    await this.completionGate;
    if (this.completionError) throw this.completionError;
    for (const r of rs) {
      this.outbox.delete(r.entryId);
      const e = this.entries.get(r.order.idempotencyKeyHash);
      if (e) e.state = 'COMPLETED';
    }
  }
  async claimStale(): Promise<Reservation[]> {
    return [...this.outbox].map(([entryId, order]) => ({ order, entryId }));
  }
}

function setup(
  stock: number,
  outcome: PublishOutcome | Promise<PublishOutcome>,
  options: {
    brokerDown?: boolean;
    saleInDatabase?: boolean;
    admission?: OrderPlacerDeps['admission'];
    /** The gate knows the sold-out sale's accepted keys (else it never refuses at the edge). */
    acceptedKeysKnown?: boolean;
    /** Lifetime of the sold-out and ended flags (default: longer than any test). */
    flagTtlMs?: number;
    completionLingerMs?: number;
  } = {},
) {
  const store = new FakeStore(stock);
  const acceptedKeys =
    options.acceptedKeysKnown === true
      ? new AcceptedKeys(
          {
            count: async () => store.entries.size,
            members: async () => [...store.entries.keys()],
            reportRefusals: async () => undefined,
          },
          () => undefined,
        )
      : { refuses: () => false, refresh: () => undefined };
  const published: AcceptedOrder[] = [];
  const publisher: OrderPublisher = {
    async publish(order) {
      published.push(order);
      return outcome;
    },
    available: () => options.brokerDown !== true,
  };
  const lostSalesAsked: string[] = [];
  const recorded = new Map<string, AcceptedOrder>();
  const deciding = { now: 0, most: 0 };
  const backgroundErrors: string[] = [];
  let n = 0;
  const placer = createOrderPlacer({
    store,
    publisher,
    recorder: {
      async remember(order) {
        recorded.set(order.orderId, order);
      },
    },
    soldOut: new SaleFlags(options.flagTtlMs ?? 60_000),
    ended: new SaleFlags(options.flagTtlMs ?? 60_000),
    acceptedKeys,
    admission: options.admission ?? {
      admit: () => 'bucket',
      refusedByScript: () => undefined,
      burstOf: () => Number.POSITIVE_INFINITY,
    },
    tickets: memoryTicketDesk().desk,
    lostSales: {
      async refusalFor(sku) {
        lostSalesAsked.push(sku);
        return options.saleInDatabase === true
          ? new Refusal('SALE_STATE_RELOADING', 'reloading', { retryAfterMs: 1000 })
          : new Refusal('SALE_NOT_FOUND', 'no sale');
      },
    },
    deciding: {
      enter() {
        deciding.most = Math.max(deciding.most, ++deciding.now);
      },
      leave() {
        deciding.now--;
      },
    },
    newOrderId: () => `00000000-0000-7000-8000-${String(++n).padStart(12, '0')}`,
    now: () => 1_700_000_000_000,
    ...(options.completionLingerMs === undefined
      ? {}
      : { completionLingerMs: options.completionLingerMs }),
    onBackgroundError: (error, context) => backgroundErrors.push(`${context}: ${String(error)}`),
  });
  return { store, published, placer, recorded, lostSalesAsked, deciding, backgroundErrors };
}

const request = { sku: 'S', quantity: 2, customerId: 'alice', idempotencyKey: 'k1' };

describe('createOrderPlacer', () => {
  test('an order counts as being decided until its reservation answers, not while Kafka is awaited', async () => {
    let ack: (outcome: PublishOutcome) => void = () => undefined;
    const { placer, deciding } = setup(
      10,
      new Promise<PublishOutcome>((resolve) => {
        ack = resolve;
      }),
    );
    const placing = placer.place(request, 'r1');
    await vi.waitFor(() => {
      expect(deciding.most).toBe(1);
      expect(deciding.now).toBe(0);
    });
    ack('acked');
    await placing;
    // A refusal leaves the count as it found it too.
    await expect(placer.place({ ...request, quantity: 100 }, 'r2')).rejects.toThrow();
    expect(deciding.now).toBe(0);
  });

  test('acked: PENDING answer, outbox emptied, a replay gets the same order marked replayed', async () => {
    const { store, placer, recorded } = setup(10, 'acked');
    const first = await placer.place(request, 'r1');
    expect(first.replayed).toBe(false);
    expect([...recorded.keys()]).toEqual([first.order.orderId]);
    expect(store.stock).toBe(8);
    await placer.settled();
    expect(store.outbox.size).toBe(0);
    const again = await placer.place(request, 'r2');
    expect(again).toEqual({ order: first.order, replayed: true });
    expect(store.stock).toBe(8);
  });

  test('the answer does not wait for the completion after the ack; a repeat meanwhile replays the order; settled() waits for it', async () => {
    const { store, placer } = setup(10, 'acked');
    let release!: () => void;
    store.completionGate = new Promise((resolve) => {
      release = resolve;
    });
    const placed = await placer.place(request, 'r1');
    expect([...store.outbox.values()]).toEqual([placed.order]);
    expect(store.entries.get(placed.order.idempotencyKeyHash)?.state).toBe('RESERVED');
    expect(await placer.place(request, 'r2')).toEqual({ order: placed.order, replayed: true });
    let settled = false;
    const settling = placer.settled().then(() => {
      settled = true;
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(settled).toBe(false);
    release();
    await settling;
    expect(store.outbox.size).toBe(0);
    expect(store.entries.get(placed.order.idempotencyKeyHash)?.state).toBe('COMPLETED');
  });

  test('orders acknowledged within the completion linger complete in one store call; without it, each turn has its own', async () => {
    const orders = (tag: string) =>
      Array.from({ length: 5 }, (_, i) => ({
        ...request,
        quantity: 1,
        customerId: `${tag}${String(i)}`,
      }));
    /** Places each order in a turn of its own, as orders arriving a millisecond apart are. */
    const oneByOne = async (placer: ReturnType<typeof setup>['placer'], tag: string) => {
      for (const [i, order] of orders(tag).entries()) {
        await placer.place(order, `${tag}${String(i)}`);
        await new Promise((resolve) => setImmediate(resolve));
      }
      await placer.settled();
    };

    const lingering = setup(10, 'acked', { completionLingerMs: 50 });
    await oneByOne(lingering.placer, 'l');
    expect(lingering.store.completions).toEqual([5]);
    expect(lingering.store.outbox.size).toBe(0);

    const eager = setup(10, 'acked', { completionLingerMs: 0 });
    await oneByOne(eager.placer, 'e');
    expect(eager.store.completions).toEqual([1, 1, 1, 1, 1]);
    expect(eager.store.outbox.size).toBe(0);
  });

  test('a completion that fails is reported, leaves the order in the outbox for the relay, and settles', async () => {
    const { store, placer, backgroundErrors } = setup(10, 'acked');
    store.completionError = new Error('redis went away');
    const placed = await placer.place(request, 'r1');
    await placer.settled();
    expect(backgroundErrors).toEqual(['complete after ack: Error: redis went away']);
    expect([...store.outbox.values()]).toEqual([placed.order]);
  });

  test('certain failure: accepted all the same, the order stays in the outbox for the relay', async () => {
    const { store, placer } = setup(10, 'failed');
    const placed = await placer.place(request, 'r1');
    expect(placed.replayed).toBe(false);
    expect(store.stock).toBe(8);
    expect([...store.outbox.values()]).toEqual([placed.order]);
  });

  test('unknown outcome: accepted, the order stays in the outbox, and a repeat of the key gets the same order at once', async () => {
    const { store, placer } = setup(10, 'unknown');
    const placed = await placer.place(request, 'r1');
    expect(placed.replayed).toBe(false);
    expect(store.stock).toBe(8);
    expect([...store.outbox.values()]).toEqual([placed.order]);
    expect(await placer.place(request, 'r2')).toEqual({ order: placed.order, replayed: true });
    expect(store.stock).toBe(8);
  });

  test('broker known down: accepted from the outbox without a publish attempt', async () => {
    const { store, placer, published, recorded } = setup(10, 'acked', { brokerDown: true });
    const placed = await placer.place(request, 'r1');
    expect(published).toEqual([]);
    expect([...store.outbox.values()]).toEqual([placed.order]);
    expect([...recorded.keys()]).toEqual([placed.order.orderId]);
  });

  test('a deadline shorter than the ack: answered from the outbox in time, completed when the ack comes', async () => {
    let ack!: (outcome: PublishOutcome) => void;
    const { store, placer } = setup(
      10,
      new Promise<PublishOutcome>((resolve) => {
        ack = resolve;
      }),
    );
    // The placer's clock is fixed, so an answer-by time already passed leaves no wait at all.
    const placed = await placer.place(request, 'r1', 1_700_000_000_000 - 1);
    expect([...store.outbox.values()]).toEqual([placed.order]);
    ack('acked');
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    expect(store.outbox.size).toBe(0);
    expect(store.entries.get(placed.order.idempotencyKeyHash)?.state).toBe('COMPLETED');
  });

  test('a sale the live store lacks: the lost-sale answer (reloading when the database has it, else not found)', async () => {
    const lost = setup(10, 'acked', { saleInDatabase: true });
    lost.store.lost = true;
    await expect(lost.placer.place(request, 'r1')).rejects.toMatchObject({
      reason: 'SALE_STATE_RELOADING',
      facts: { retryAfterMs: 1000 },
    });
    expect(lost.lostSalesAsked).toEqual(['S']);
    const unknown = setup(10, 'acked');
    unknown.store.lost = true;
    await expect(unknown.placer.place(request, 'r1')).rejects.toMatchObject({
      reason: 'SALE_NOT_FOUND',
    });
  });

  test('once sold out, later orders are refused from the local flag without a reservation attempt', async () => {
    const { store, placer } = setup(2, 'acked');
    await placer.place(request, 'r1');
    const callsBefore = store.storeCalls;
    const refusal = await placer
      .place({ ...request, idempotencyKey: 'k2' }, 'r2')
      .catch((e: unknown) => e);
    expect(refusal).toBeInstanceOf(Refusal);
    expect((refusal as Refusal).reason).toBe('SOLD_OUT');
    expect(store.storeCalls).toBe(callsBefore);
  });

  test('more than is left: INSUFFICIENT_STOCK with the units left, no sold-out flag, and what is left still sells', async () => {
    const { store, placer } = setup(2, 'acked');
    const refusal = await placer
      .place({ ...request, quantity: 3, idempotencyKey: 'k3' }, 'r1')
      .catch((e: unknown) => e);
    expect(refusal).toMatchObject({ reason: 'INSUFFICIENT_STOCK', facts: { unitsLeft: 2 } });
    const one = await placer.place({ ...request, quantity: 1, idempotencyKey: 'k4' }, 'r2');
    expect(one.replayed).toBe(false);
    expect(store.soldOutChecks).toBe(0);
    expect(store.stock).toBe(1);
  });

  test('a stale sold-out flag (units restocked elsewhere) does not refuse: the order is reserved', async () => {
    const { store, placer } = setup(2, 'acked');
    await placer.place(request, 'r1'); // takes the last 2 units: the gate flags the sale
    store.stock = 5; // restocked through another gate; this gate missed the notice
    const placed = await placer.place({ ...request, idempotencyKey: 'k5' }, 'r2');
    expect(placed.replayed).toBe(false);
    expect(store.soldOutChecks).toBe(1);
    expect(store.stock).toBe(3);
  });

  test("a stale sold-out flag re-decides with the buyer's ticket: admitted by its call, not the sale's rate", async () => {
    const { store, placer } = setup(2, 'acked');
    store.dry = true;
    const queued = await placer
      .place({ ...request, quantity: 1, idempotencyKey: 'q1' }, 'r1')
      .catch((e: unknown) => e);
    const ticket = (queued as Refusal).facts.ticket!;
    store.dry = false;
    await placer.place({ ...request, customerId: 'bob', idempotencyKey: 'b1' }, 'r2'); // flagged
    store.stock = 5; // restocked through another gate; this gate missed the notice
    await placer.place(
      { ...request, quantity: 1, idempotencyKey: 'q1', queueTicket: ticket.token },
      'r3',
    );
    expect(store.soldOutChecks).toBe(1);
    expect(store.admissions.at(-1)).toEqual({
      position: ticket.number,
      issuedAtMs: ticket.issuedAtMs,
    });
    expect(store.stock).toBe(4);
  });

  test('a buyer retrying without the ticket this gate gave them keeps their place; once it is spent, they are a newcomer', async () => {
    const { store, placer } = setup(10, 'acked');
    store.dry = true;
    const key = (k: string) => ({ ...request, quantity: 1, idempotencyKey: k });
    const queued = (await placer.place(key('q1'), 'r1').catch((e: unknown) => e)) as Refusal;
    const ticket = queued.facts.ticket!;
    store.dry = false;
    // No ticket sent: the one this gate gave alice admits her, and is spent.
    await placer.place(key('q1'), 'r2');
    expect(store.admissions.at(-1)).toEqual({
      position: ticket.number,
      issuedAtMs: ticket.issuedAtMs,
    });
    await placer.place(key('q2'), 'r3');
    expect(store.admissions.at(-1)).toBe('bucket');
  });

  test('edge admission: a refusal at the edge costs no store call; a leased token tells the store; a dry bucket is reported', async () => {
    const verdicts: EdgeVerdict[] = [
      new Refusal('RATE_LIMITED', 'over the rate', { retryAfterMs: 25 }),
      'leased',
      'bucket',
    ];
    const reported: string[] = [];
    const { store, placer } = setup(10, 'acked', {
      admission: {
        admit: () => verdicts.shift() ?? 'bucket',
        refusedByScript: (sku, refusal) => reported.push(`${sku} ${refusal.reason}`),
        burstOf: () => Number.POSITIVE_INFINITY,
      },
    });
    const key = (k: string) => ({ ...request, quantity: 1, idempotencyKey: k });
    const refused = await placer.place(key('e1'), 'r1').catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(Refusal);
    // Refused for the sale's rate: a place in its queue, the first (10 a second: 100 ms away).
    expect((refused as Refusal).facts).toMatchObject({
      retryAfterMs: 100,
      ticket: { sku: 'S', number: 1 },
    });
    expect(store.storeCalls).toBe(0);
    // Other buyers (alice holds a ticket now, which would admit her instead).
    await placer.place({ ...key('e2'), customerId: 'bob' }, 'r2');
    await placer.place({ ...key('e3'), customerId: 'carol' }, 'r3');
    expect(store.admissions).toEqual(['leased', 'bucket']);
    expect(reported).toEqual([]);
    store.dry = true;
    const queued = await placer.place(key('e4'), 'r4').catch((e: unknown) => e);
    // The same customer, still waiting: the same ticket.
    expect((queued as Refusal).facts.ticket).toEqual((refused as Refusal).facts.ticket);
    expect(reported).toEqual(['S RATE_LIMITED']);
  });

  test('a sale flagged sold out is answered by the store (the answer it stores), never by the edge', async () => {
    let asked = 0;
    const { store, placer } = setup(2, 'acked', {
      admission: {
        admit: () => (++asked === 1 ? 'bucket' : new Refusal('RATE_LIMITED', 'over the rate')),
        refusedByScript: () => undefined,
        burstOf: () => Number.POSITIVE_INFINITY,
      },
    });
    await placer.place(request, 'r1'); // the last two units: the sale is flagged sold out
    const refusal = await placer
      .place({ ...request, idempotencyKey: 'k2' }, 'r2')
      .catch((e: unknown) => e);
    expect((refusal as Refusal).reason).toBe('SOLD_OUT');
    expect(store.soldOutChecks).toBe(1);
    expect(asked).toBe(1);
  });

  test('a sold-out sale whose accepted keys are known refuses new keys at the edge, and sends retries of accepted orders to the store', async () => {
    const { store, placer } = setup(2, 'acked', { acceptedKeysKnown: true });
    const accepted = await placer.place(request, 'r1'); // the last two units: flagged, keys loaded
    await new Promise((resolve) => setImmediate(resolve));
    const calls = store.storeCalls;
    for (const k of ['k2', 'k3', 'k4']) {
      const refusal = await placer
        .place({ ...request, idempotencyKey: k }, k)
        .catch((e: unknown) => e);
      expect(refusal).toMatchObject({ reason: 'SOLD_OUT', replayed: false });
    }
    expect(store.storeCalls).toBe(calls);
    expect(store.soldOutChecks).toBe(0);
    // The buyer whose answer was lost retries: the store replays the order.
    expect(await placer.place(request, 'r5')).toEqual({ order: accepted.order, replayed: true });
    expect(store.soldOutChecks).toBe(1);
  });

  test("a lapsed sold-out flag's probe that finds units (a restock whose notice was missed) clears it for everyone", async () => {
    const { store, placer } = setup(2, 'acked', { acceptedKeysKnown: true, flagTtlMs: 20 });
    await placer.place(request, 'r1'); // the last two units: flagged
    await new Promise((resolve) => setImmediate(resolve));
    store.stock = 5; // restocked through another gate; this gate missed the notice
    const refused = await placer
      .place({ ...request, idempotencyKey: 'k2' }, 'r2')
      .catch((e: unknown) => e);
    expect(refused).toMatchObject({ reason: 'SOLD_OUT' }); // stale for up to the flag's life
    await new Promise((resolve) => setTimeout(resolve, 30));
    const probe = await placer.place({ ...request, idempotencyKey: 'k3' }, 'r3');
    expect(probe.replayed).toBe(false);
    const next = await placer.place({ ...request, idempotencyKey: 'k4' }, 'r4');
    expect(next.replayed).toBe(false);
    expect(store.stock).toBe(1);
  });

  test('an ended sale whose accepted keys are known refuses new keys at the edge, and a retry of an accepted order still gets it', async () => {
    const { store, placer } = setup(10, 'acked', { acceptedKeysKnown: true });
    const accepted = await placer.place(request, 'r1');
    store.ended = true;
    const first = await placer
      .place({ ...request, idempotencyKey: 'k2' }, 'r2')
      .catch((e: unknown) => e);
    expect(first).toMatchObject({ reason: 'SALE_ENDED' }); // the store's: the gate flags the sale
    await new Promise((resolve) => setImmediate(resolve));
    const calls = store.storeCalls;
    const atEdge = await placer
      .place({ ...request, idempotencyKey: 'k3' }, 'r3')
      .catch((e: unknown) => e);
    expect(atEdge).toMatchObject({ reason: 'SALE_ENDED', replayed: false });
    expect(store.storeCalls).toBe(calls);
    expect(await placer.place(request, 'r4')).toEqual({ order: accepted.order, replayed: true });
    expect(store.storeCalls).toBe(calls + 1);
  });

  test('the fingerprint separates requests that differ in any field, even when concatenations collide', () => {
    const base = fingerprintOf(request);
    expect(fingerprintOf({ ...request, quantity: 3 })).not.toBe(base);
    expect(fingerprintOf({ ...request, customerId: 'bob' })).not.toBe(base);
    expect(fingerprintOf({ ...request, sku: 'S2', customerId: 'x' })).not.toBe(
      fingerprintOf({ ...request, sku: 'S', customerId: '2x' }),
    );
    expect(fingerprintOf({ ...request, idempotencyKey: 'other' })).toBe(base);
  });

  test("the key's hash is per customer, even when concatenations collide", () => {
    expect(hashIdempotencyKey('alice', 'k')).toBe(hashIdempotencyKey('alice', 'k'));
    expect(hashIdempotencyKey('bob', 'k')).not.toBe(hashIdempotencyKey('alice', 'k'));
    expect(hashIdempotencyKey('a', 'b:c')).not.toBe(hashIdempotencyKey('a:b', 'c'));
    expect(hashIdempotencyKey('a|1', 'b')).not.toBe(hashIdempotencyKey('a', '1|b'));
    expect(hashIdempotencyKey('alice', 'k')).toMatch(/^[0-9a-f]{64}$/);
  });
});
