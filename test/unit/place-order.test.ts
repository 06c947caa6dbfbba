/**
 * The PlaceOrder use case with in-memory fakes of its ports: what the buyer is told, and what
 * stays reserved, for each way a publish can end.
 */
import { describe, expect, test } from 'vitest';
import type { AcceptedOrder } from '../../src/domain/order.js';
import { createOrderPlacer } from '../../src/domain/place-order.js';
import { fingerprintOf } from '../../src/idempotency/fingerprint.js';
import type {
  OrderPublisher,
  PublishOutcome,
  Reservation,
  ReservationOutcome,
  ReservationStore,
  SoldOutOutcome,
} from '../../src/domain/ports.js';
import { Refusal } from '../../src/domain/refusal.js';
import { SoldOutFlags } from '../../src/admission/sold-out-flags.js';

/** A store with one sale's stock and idempotency entries, and the same rules as the Lua script's core. */
class FakeStore implements ReservationStore {
  stock: number;
  readonly entries = new Map<
    string,
    { fp: string; state: 'RESERVED' | 'COMPLETED'; order: AcceptedOrder }
  >();
  readonly outbox = new Map<string, AcceptedOrder>();
  storeCalls = 0;
  failRelease = false;
  constructor(stock: number) {
    this.stock = stock;
  }
  async reserve(order: AcceptedOrder, fp: string): Promise<ReservationOutcome> {
    this.storeCalls++;
    const known = this.entries.get(order.idempotencyKeyHash);
    if (known) {
      if (known.fp !== fp)
        return { kind: 'refused', refusal: new Refusal('IDEMPOTENCY_KEY_REUSED', 'reused') };
      return known.state === 'RESERVED'
        ? { kind: 'in-flight' }
        : { kind: 'replay-accepted', order: known.order };
    }
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
  async refuseSoldOut(): Promise<SoldOutOutcome> {
    this.soldOutChecks++;
    if (this.stock > 0) return { kind: 'stock-left' };
    return { kind: 'refused', refusal: new Refusal('SOLD_OUT', 'sold out (flag)') };
  }
  async complete(rs: readonly Reservation[]): Promise<void> {
    for (const r of rs) {
      this.outbox.delete(r.entryId);
      const e = this.entries.get(r.order.idempotencyKeyHash);
      if (e) e.state = 'COMPLETED';
    }
  }
  async release(r: Reservation): Promise<boolean> {
    if (this.failRelease) throw new Error('redis down');
    if (!this.outbox.delete(r.entryId)) return false;
    this.stock += r.order.quantity;
    this.entries.delete(r.order.idempotencyKeyHash);
    return true;
  }
  async claimStale(): Promise<Reservation[]> {
    return [...this.outbox].map(([entryId, order]) => ({ order, entryId }));
  }
}

function setup(stock: number, outcome: PublishOutcome) {
  const store = new FakeStore(stock);
  const published: AcceptedOrder[] = [];
  const publisher: OrderPublisher = {
    async publish(order) {
      published.push(order);
      return outcome;
    },
  };
  const recorded = new Map<string, AcceptedOrder>();
  let n = 0;
  const placer = createOrderPlacer({
    store,
    publisher,
    recorder: {
      async remember(order) {
        recorded.set(order.orderId, order);
      },
      async forget(orderId) {
        recorded.delete(orderId);
      },
    },
    soldOut: new SoldOutFlags(60_000),
    newOrderId: () => `00000000-0000-7000-8000-${String(++n).padStart(12, '0')}`,
    now: () => 1_700_000_000_000,
    onBackgroundError: () => undefined,
  });
  return { store, published, placer, recorded };
}

const request = { sku: 'S', quantity: 2, customerId: 'alice', idempotencyKey: 'k1' };

describe('createOrderPlacer', () => {
  test('acked: PENDING answer, outbox emptied, a replay gets the same order marked replayed', async () => {
    const { store, placer, recorded } = setup(10, 'acked');
    const first = await placer.place(request, 'r1');
    expect(first.replayed).toBe(false);
    expect([...recorded.keys()]).toEqual([first.order.orderId]);
    expect(store.stock).toBe(8);
    expect(store.outbox.size).toBe(0);
    const again = await placer.place(request, 'r2');
    expect(again).toEqual({ order: first.order, replayed: true });
    expect(store.stock).toBe(8);
  });

  test('certain failure: unavailable, and everything put back so the same key can retry', async () => {
    const { store, placer } = setup(10, 'failed');
    await expect(placer.place(request, 'r1')).rejects.toMatchObject({
      reason: 'DEPENDENCY_UNAVAILABLE',
    });
    expect(store.stock).toBe(10);
    expect(store.outbox.size).toBe(0);
    expect(store.entries.size).toBe(0);
  });

  test('unknown outcome: accepted, and the reservation stays in the outbox for the relay', async () => {
    const { store, placer } = setup(10, 'unknown');
    const placed = await placer.place(request, 'r1');
    expect(placed.replayed).toBe(false);
    expect(store.stock).toBe(8);
    expect([...store.outbox.values()]).toEqual([placed.order]);
    await expect(placer.place(request, 'r2')).rejects.toMatchObject({
      reason: 'IDEMPOTENCY_KEY_IN_FLIGHT',
    });
  });

  test('certain failure but the release cannot run: accepted (the relay will publish), stock stays reserved', async () => {
    const { store, placer } = setup(10, 'failed');
    store.failRelease = true;
    const placed = await placer.place(request, 'r1');
    expect(store.outbox.size).toBe(1);
    expect(placed.order.quantity).toBe(2);
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

  test('the fingerprint separates requests that differ in any field, even when concatenations collide', () => {
    const base = fingerprintOf(request);
    expect(fingerprintOf({ ...request, quantity: 3 })).not.toBe(base);
    expect(fingerprintOf({ ...request, customerId: 'bob' })).not.toBe(base);
    expect(fingerprintOf({ ...request, sku: 'S2', customerId: 'x' })).not.toBe(
      fingerprintOf({ ...request, sku: 'S', customerId: '2x' }),
    );
    expect(fingerprintOf({ ...request, idempotencyKey: 'other' })).toBe(base);
  });
});
