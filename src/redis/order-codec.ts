/**
 * The Redis forms of an order, encoded and decoded here only: the accepted order as JSON (the
 * payload of an outbox entry, and the answer an idempotency entry replays) and the order view
 * as JSON (the live order record).
 */
import type { AcceptedOrder } from '../domain/order.js';
import type { OrderView } from '../domain/order-view.js';

/** The accepted order as stored in Redis. */
export const acceptedOrderToJson = (order: AcceptedOrder): string => JSON.stringify(order);
/** An accepted order stored by {@link acceptedOrderToJson}. */
export const acceptedOrderFromJson = (json: string): AcceptedOrder =>
  JSON.parse(json) as AcceptedOrder;
/** The order view as stored in the live order record. */
export const orderViewToJson = (view: OrderView): string => JSON.stringify(view);
/** An order view stored by {@link orderViewToJson}. */
export const orderViewFromJson = (json: string): OrderView => JSON.parse(json) as OrderView;
