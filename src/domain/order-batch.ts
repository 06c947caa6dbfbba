/**
 * Recording accepted orders in batches: the pure decision of each new order against the stock,
 * and the port of the store that records a batch in one transaction.
 */
import type { AcceptedOrder } from './order.js';
import type { FinalStatusName, OrderView, RejectReasonName } from './order-view.js';

/** An accepted order and where it came from in Kafka. */
export interface IncomingOrder {
  readonly order: AcceptedOrder;
  readonly partition: number;
  readonly offset: string;
}

/** The final status decided for a newly recorded order. */
export interface Decision {
  readonly incoming: IncomingOrder;
  readonly status: FinalStatusName;
  readonly rejectReason: RejectReasonName | null;
  readonly finalizedAt: Date;
}

/** What one batch's transaction did; everything in it is committed. */
export interface BatchResult {
  /** Orders this transaction recorded, with the status it decided. */
  readonly decided: Decision[];
  /**
   * Orders recorded before (a redelivered batch, a relay re-publish), as the database holds
   * them: final, and possibly never announced, since the process that recorded them may have
   * stopped between its commit and its notifications. One view per order.
   */
  readonly duplicates: OrderView[];
  /** Orders whose idempotency key another order of the sale already holds: not recorded. */
  readonly keyConflicts: IncomingOrder[];
}

/** Records batches of accepted orders (PostgreSQL: src/persistence/order-batch.ts). */
export interface OrderBatchStore {
  /**
   * In one transaction: skips orders already recorded, decides the new ones with
   * {@link decide} against the stock (locked) and records them, moving the stock.
   */
  record(batch: readonly IncomingOrder[]): Promise<BatchResult>;
}

/**
 * Decides orders in the order given, greedily, against the stock counts: pure, so the
 * transaction's arithmetic can be tested alone.
 */
export function decide(
  orders: readonly IncomingOrder[],
  stockBySku: ReadonlyMap<string, number>,
  now: Date,
): Decision[] {
  const left = new Map(stockBySku);
  return orders.map((incoming) => {
    const stock = left.get(incoming.order.sku);
    if (stock === undefined)
      return { incoming, status: 'REJECTED', rejectReason: 'UNKNOWN_PRODUCT', finalizedAt: now };
    if (stock < incoming.order.quantity) {
      return { incoming, status: 'REJECTED', rejectReason: 'INSUFFICIENT_STOCK', finalizedAt: now };
    }
    left.set(incoming.order.sku, stock - incoming.order.quantity);
    return { incoming, status: 'CONFIRMED', rejectReason: null, finalizedAt: now };
  });
}

/** The view of a decided order, as recorded. */
export function decidedView(d: Decision): OrderView {
  return {
    order: d.incoming.order,
    status: d.status,
    rejectReason: d.rejectReason,
    finalizedAtMs: d.finalizedAt.getTime(),
  };
}
