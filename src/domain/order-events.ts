/**
 * What the worker tells the rest of the system once a status is committed: the status change
 * (the OrderStatusChanged event's content) and the port that carries it to the gates.
 */
import type { FinalStatusName, OrderView, RejectReasonName } from './order-view.js';

/** An order reached its final status, committed to the database. */
export interface OrderStatusChange {
  readonly orderId: string;
  readonly sku: string;
  readonly quantity: number;
  readonly status: FinalStatusName;
  readonly rejectReason: RejectReasonName | null;
  /** When the status was committed. */
  readonly changedAtMs: number;
}

/** The change a final view announces; throws for a view that is not final. */
export function statusChangeOf(view: OrderView): OrderStatusChange {
  if (view.status === 'PENDING' || view.finalizedAtMs === null)
    throw new Error(`order ${view.order.orderId} is not final`);
  return {
    orderId: view.order.orderId,
    sku: view.order.sku,
    quantity: view.order.quantity,
    status: view.status,
    rejectReason: view.rejectReason,
    changedAtMs: view.finalizedAtMs,
  };
}

/** Tells the gates what the worker committed (live order records, watchers, counters). */
export interface WorkerNotifier {
  /**
   * Orders reached their final status (committed): their whole final views. May be told the
   * same view again (a redelivered batch): it must be idempotent.
   */
  statusChanged(views: readonly OrderView[]): Promise<void>;
  /** A record of `sku` (when known) went to the dead-letter topic. */
  deadLettered(sku: string | undefined): Promise<void>;
}
