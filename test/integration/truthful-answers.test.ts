/**
 * Every answer PlaceOrder gives is true at the moment it is first given, and a replay repeats
 * it. The order placer runs on the real Redis scripts; only the Kafka publisher is a fake whose
 * outcome each step chooses, so that acked, certainly failed and unknown publishes all occur.
 */
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, describe, expect, test } from 'vitest';
import { SaleFlags } from '../../src/admission/sale-flags.js';
import type { ValidOrderRequest } from '../../src/domain/order.js';
import { relayOutboxOnce } from '../../src/domain/outbox-relay.js';
import { createOrderPlacer } from '../../src/domain/place-order.js';
import type { PublishOutcome } from '../../src/domain/ports.js';
import { Refusal, type RefusalFacts, type RefusalReason } from '../../src/domain/refusal.js';
import { loadTestSale, testReservationStore, testSale } from '../support/sales.js';
import { isolatedConfig, redisFor } from '../support/stack.js';
import { memoryTicketDesk } from '../support/tickets.js';

const config = isolatedConfig();
const { redis, keys } = redisFor(config);
const store = testReservationStore(redis, keys);

afterAll(() => {
  redis.disconnect();
});

/** A gate's order placer on the real store; `outcome` is what the next publishes answer. */
function placerFor() {
  const publisher = { outcome: 'acked' as PublishOutcome };
  let n = 0;
  const placer = createOrderPlacer({
    store,
    publisher: { publish: async () => publisher.outcome, available: () => true },
    recorder: { remember: async () => undefined },
    lostSales: {
      refusalFor: async (sku) => new Refusal('SALE_NOT_FOUND', `no sale with sku ${sku}`),
    },
    deciding: { enter: () => undefined, leave: () => undefined },
    // Every order asks the store, as with FLUXGATE_ADMISSION_LEASE_MS=0.
    admission: {
      admit: () => 'bucket',
      refusedByScript: () => undefined,
      burstOf: () => Number.POSITIVE_INFINITY,
    },
    tickets: memoryTicketDesk().desk,
    // A long-lived flag: a restock below is never announced, so the flag goes stale. The edge
    // never refuses (its sold-out refusals are tested in place-order.test.ts): every answer
    // here is the store's.
    soldOut: new SaleFlags(60_000),
    ended: new SaleFlags(60_000),
    acceptedKeys: { refuses: () => false, refresh: () => undefined },
    newOrderId: () => `00000000-0000-7000-8000-${String(++n).padStart(12, '0')}`,
    now: Date.now,
    onBackgroundError: () => undefined,
  });
  return { placer, publisher };
}

/** What a buyer was told: an order id, or a refusal's reason and facts. */
type Answer =
  | { readonly accepted: string; readonly replayed: boolean }
  | { readonly reason: RefusalReason; readonly facts: RefusalFacts; readonly replayed: boolean };

async function answerOf(
  work: Promise<{ order: { orderId: string }; replayed: boolean }>,
): Promise<Answer> {
  try {
    const placed = await work;
    return { accepted: placed.order.orderId, replayed: placed.replayed } satisfies Answer;
  } catch (error) {
    if (!(error instanceof Refusal)) throw error;
    const { reason, facts, replayed } = error;
    return { reason, facts, replayed } satisfies Answer;
  }
}

describe('the sequence that used to give a false SOLD_OUT', () => {
  test('2 units left, an order for 3: INSUFFICIENT_STOCK with units left 2; orders for 1 and 1 then succeed; the refusal replays as given', async () => {
    const sku = `SEQ-${randomBytes(3).toString('hex')}`;
    await loadTestSale(redis, keys, testSale(sku, { totalStock: 5 }));
    const { placer } = placerFor();
    const order = (idempotencyKey: string, quantity: number): ValidOrderRequest => ({
      sku,
      quantity,
      customerId: `c-${idempotencyKey}`,
      idempotencyKey,
    });

    expect(await answerOf(placer.place(order('a', 3), 'r'))).toMatchObject({ replayed: false });
    expect(await answerOf(placer.place(order('b', 3), 'r'))).toEqual({
      reason: 'INSUFFICIENT_STOCK',
      facts: { unitsLeft: 2 },
      replayed: false,
    });
    // Within the same second, on the same gate: no sold-out flag was set, both sell.
    expect(await answerOf(placer.place(order('c', 1), 'r'))).toMatchObject({ replayed: false });
    expect(await answerOf(placer.place(order('d', 1), 'r'))).toMatchObject({ replayed: false });
    expect(await redis.get(keys.stock(sku))).toBe('0');
    expect(await answerOf(placer.place(order('e', 1), 'r'))).toEqual({
      reason: 'SOLD_OUT',
      facts: {},
      replayed: false,
    });
    expect(await answerOf(placer.place(order('b', 3), 'r'))).toEqual({
      reason: 'INSUFFICIENT_STOCK',
      facts: { unitsLeft: 2 },
      replayed: true,
    });
  });
});

/** One step of a random history. */
type Step =
  | {
      readonly kind: 'place';
      readonly customer: number;
      readonly quantity: number;
      readonly key: number;
      readonly publish: PublishOutcome;
    }
  | { readonly kind: 'restock'; readonly units: number }
  | { readonly kind: 'relay' };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constant('place' as const),
      customer: fc.integer({ min: 0, max: 2 }),
      quantity: fc.integer({ min: 1, max: 4 }),
      key: fc.integer({ min: 0, max: 5 }),
      publish: fc.constantFrom<PublishOutcome>('acked', 'acked', 'failed', 'unknown'),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('restock' as const),
      units: fc.integer({ min: 1, max: 3 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('relay' as const) }) },
);

/** What an idempotency key has answered so far, in the model. */
type KeyEntry =
  | { readonly request: string; readonly order: string; state: 'in outbox' | 'completed' }
  | { readonly request: string; readonly refusal: Answer };

/** The entry of one customer's key: keys are scoped to the customer. */
const entryOf = (step: { customer: number; key: number }) => `${step.customer}/${step.key}`;

/** The reference model: one sale's stock, each customer's units, each key's answer. */
class Model {
  readonly bought = [0, 0, 0];
  readonly entries = new Map<string, KeyEntry>();
  constructor(
    public stock: number,
    readonly limit: number,
  ) {}

  /** The answer a place step must get, decided before it runs; `fresh`: a new reservation. */
  expected(step: Extract<Step, { kind: 'place' }>): Answer | 'fresh' {
    const request = `${step.customer}/${step.quantity}`;
    const entry = this.entries.get(entryOf(step));
    if (entry !== undefined) {
      if (entry.request !== request)
        return { reason: 'IDEMPOTENCY_KEY_REUSED', facts: {}, replayed: false };
      if ('refusal' in entry) return { ...entry.refusal, replayed: true };
      // Accepted, whether Kafka has acknowledged it yet or not.
      return { accepted: entry.order, replayed: true };
    }
    const refuse = (reason: RefusalReason, facts: RefusalFacts = {}): Answer => {
      const refusal = { reason, facts, replayed: false };
      this.entries.set(entryOf(step), { request, refusal });
      return refusal;
    };
    if (this.stock === 0) return refuse('SOLD_OUT');
    const held = this.bought[step.customer]!;
    if (held + step.quantity > this.limit)
      return refuse('PURCHASE_LIMIT_REACHED', { remaining: this.limit - held });
    if (this.stock < step.quantity) return refuse('INSUFFICIENT_STOCK', { unitsLeft: this.stock });
    return 'fresh';
  }

  /**
   * A fresh order was reserved with `orderId`; its publish ended as `publish`. Accepted however
   * the publish ended: unless acknowledged, its outbox entry holds it for the relay.
   */
  reserved(step: Extract<Step, { kind: 'place' }>, orderId: string): Answer {
    this.stock -= step.quantity;
    this.bought[step.customer]! += step.quantity;
    this.entries.set(entryOf(step), {
      request: `${step.customer}/${step.quantity}`,
      order: orderId,
      state: step.publish === 'acked' ? 'completed' : 'in outbox',
    });
    return { accepted: orderId, replayed: false };
  }
}

test('random histories of orders, publishes that succeed, fail or hang, restocks and relay passes: every answer is the model’s', async () => {
  let run = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(stepArb, { minLength: 1, maxLength: 30 }), async (steps) => {
      const sku = `PROP-${(run++).toString(36)}-${randomBytes(2).toString('hex')}`;
      const model = new Model(6, 5);
      await loadTestSale(
        redis,
        keys,
        testSale(sku, { totalStock: model.stock, perCustomerLimit: model.limit }),
      );
      const { placer, publisher } = placerFor();
      for (const step of steps) {
        if (step.kind === 'restock') {
          await redis.incrby(keys.stock(sku), step.units); // unannounced: gates' flags go stale
          model.stock += step.units;
        } else if (step.kind === 'relay') {
          // The relay lock lasts a second so that two gates never relay one sale at once; a
          // pass here stands for one a second later.
          await redis.del(keys.relayLock(sku));
          await relayOutboxOnce({
            store,
            publisher: { publish: async () => 'acked', available: () => true },
            graceMs: 0,
            batchSize: 100,
          });
          for (const entry of model.entries.values())
            if ('state' in entry) entry.state = 'completed';
        } else {
          const expected = model.expected(step);
          publisher.outcome = step.publish;
          const answer = await answerOf(
            placer.place(
              {
                sku,
                quantity: step.quantity,
                customerId: `customer-${step.customer}`,
                idempotencyKey: `key-${step.key}`,
              },
              'r',
            ),
          );
          if (expected !== 'fresh') expect(answer).toEqual(expected);
          else {
            // A fresh order: the id is the gate's to choose; everything else is the model's.
            const orderId = 'accepted' in answer ? answer.accepted : '(no order)';
            expect(answer).toEqual(model.reserved(step, orderId));
          }
        }
        // Redis holds exactly what the model holds, once the completions after answers are done.
        await placer.settled();
        expect(Number(await redis.get(keys.stock(sku)))).toBe(model.stock);
        for (const c of [0, 1, 2])
          expect(Number((await redis.get(keys.bought(sku, `customer-${c}`))) ?? 0)).toBe(
            model.bought[c],
          );
        const inOutbox = [...model.entries.values()].filter(
          (e) => 'state' in e && e.state === 'in outbox',
        ).length;
        expect(await redis.xlen(keys.outbox(sku))).toBe(inOutbox);
      }
    }),
    { numRuns: 150 },
  );
});
