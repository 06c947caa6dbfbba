/**
 * The PlaceOrder use case: reserve atomically, publish, then complete or release. Knows nothing
 * of Redis, Kafka or the wire; those come in through the ports.
 */
import type { SoldOutFlags } from '../admission/sold-out-flags.js';
import { fingerprintOf, hashIdempotencyKey } from '../idempotency/fingerprint.js';
import type { AcceptedOrder, ValidOrderRequest } from './order.js';
import type {
  OrderPublisher,
  OrderRecorder,
  Reservation,
  ReservationStore,
  SoldOutOutcome,
} from './ports.js';
import { Refusal } from './refusal.js';

/** What the order placer needs. */
export interface OrderPlacerDeps {
  readonly store: ReservationStore;
  readonly publisher: OrderPublisher;
  readonly soldOut: SoldOutFlags;
  readonly recorder: OrderRecorder;
  readonly newOrderId: () => string;
  readonly now: () => number;
  /** Told about failures that do not change the answer (e.g. a completion that will be retried). */
  readonly onBackgroundError: (error: unknown, context: string) => void;
}

/** An accepted order, fresh or replayed. */
export interface PlacedOrder {
  readonly order: AcceptedOrder;
  readonly replayed: boolean;
}

/** Places orders. */
export interface OrderPlacer {
  /** Accepts the order (PENDING) or throws a {@link Refusal}. */
  place(request: ValidOrderRequest, requestId: string): Promise<PlacedOrder>;
}

/**
 * Completions asked for in the same turn of the event loop, as one store call: the publisher
 * settles a whole produce request at once, so its orders complete together.
 */
function batchCompletions(store: ReservationStore): (reservation: Reservation) => Promise<void> {
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
      if (waiting.length === 0) setImmediate(flush);
      waiting.push({ reservation, resolve, reject });
    });
}

/** Creates the order placer. */
export function createOrderPlacer(deps: OrderPlacerDeps): OrderPlacer {
  const { store, publisher, soldOut } = deps;
  const complete = batchCompletions(store);

  async function settle(reservation: Reservation): Promise<PlacedOrder> {
    const { order } = reservation;
    // Recorded while the publish is under way, so it adds no wait; a record that fails only
    // delays GetOrder until the worker writes the final status.
    const [outcome] = await Promise.all([
      publisher.publish(order),
      deps.recorder.remember(order).catch((e: unknown) => {
        deps.onBackgroundError(e, 'record pending order');
      }),
    ]);
    if (outcome === 'acked') {
      // The order is in Kafka: the answer is PENDING whatever happens next. A completion that
      // fails leaves the outbox entry, and the relay completes it later.
      await complete(reservation).catch((e: unknown) => {
        deps.onBackgroundError(e, 'complete after ack');
      });
      return { order, replayed: false };
    }
    if (outcome === 'failed') {
      let released: boolean;
      try {
        released = await store.release(reservation);
      } catch (e) {
        // Could not release: the outbox entry stays and the relay will publish the order,
        // so it is accepted after all.
        deps.onBackgroundError(e, 'release after failed publish');
        return { order, replayed: false };
      }
      if (released) {
        await deps.recorder.forget(order.orderId).catch((e: unknown) => {
          deps.onBackgroundError(e, 'forget released order');
        });
        throw new Refusal(
          'DEPENDENCY_UNAVAILABLE',
          'the order queue is unavailable; nothing was reserved, retry with the same key',
        );
      }
    }
    // Unknown outcome (or a release that found the order already relayed): the outbox entry
    // holds the order and the relay publishes it, so it is accepted.
    return { order, replayed: false };
  }

  return {
    async place(request, requestId) {
      const order: AcceptedOrder = {
        orderId: deps.newOrderId(),
        sku: request.sku,
        quantity: request.quantity,
        customerId: request.customerId,
        idempotencyKeyHash: hashIdempotencyKey(request.idempotencyKey),
        acceptedAtMs: deps.now(),
        requestId,
      };
      const fingerprint = fingerprintOf(request);
      let outcome: SoldOutOutcome = soldOut.has(request.sku)
        ? await store.refuseSoldOut(order, fingerprint)
        : await store.reserve(order, fingerprint);
      if (outcome.kind === 'stock-left') {
        // The flag was stale (a restock whose notice this gate missed): decide in full.
        soldOut.clear(request.sku);
        outcome = await store.reserve(order, fingerprint);
      }
      switch (outcome.kind) {
        case 'reserved':
          if (outcome.unitsLeft === 0) soldOut.set(request.sku);
          return settle(outcome.reservation);
        case 'in-flight':
          throw new Refusal(
            'IDEMPOTENCY_KEY_IN_FLIGHT',
            'a request with this idempotency key is still being processed; retry shortly',
          );
        case 'replay-accepted':
          return { order: outcome.order, replayed: true };
        case 'refused':
          // Only a counter at zero flags the sale: fewer units than asked is not sold out.
          if (outcome.refusal.reason === 'SOLD_OUT' && !outcome.refusal.replayed)
            soldOut.set(request.sku);
          throw outcome.refusal;
      }
    },
  };
}
