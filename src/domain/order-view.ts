/**
 * An order as buyers see it: the accepted order plus where it stands now. The status and
 * reject-reason names are defined here once; the database stores them as they are and
 * src/contract/order-status.ts maps them to the proto enums.
 */
import type { AcceptedOrder } from './order.js';

/** Status of an order (the proto's OrderStatus without prefix). */
export type OrderStatusName = 'PENDING' | 'CONFIRMED' | 'REJECTED';
/** A status the order never leaves. */
export type FinalStatusName = Exclude<OrderStatusName, 'PENDING'>;
/** Why the database rejected an order (the proto's RejectReason without prefix). */
export type RejectReasonName = 'INSUFFICIENT_STOCK' | 'UNKNOWN_PRODUCT';

/** An order and its status. */
export interface OrderView {
  readonly order: AcceptedOrder;
  readonly status: OrderStatusName;
  readonly rejectReason: RejectReasonName | null;
  readonly finalizedAtMs: number | null;
}

/** True once the order will not change again. */
export function isFinal(view: OrderView): boolean {
  return view.status !== 'PENDING';
}

/** Where order views come from: the live store first, the database for older orders. */
export interface OrderViewSource {
  /** The order's view, or undefined if no order has that id. */
  get(orderId: string): Promise<OrderView | undefined>;
}
