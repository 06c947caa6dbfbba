/** Finds an order's view: the live store knows recent orders, the database every recorded one. */
import type { OrderView, OrderViewSource } from './order-view.js';

/** Combines the live source (first) and the database (for orders the live store forgot). */
export function createOrderLookup(
  live: OrderViewSource,
  database: OrderViewSource,
): OrderViewSource {
  return {
    async get(orderId) {
      const recent: OrderView | undefined = await live.get(orderId);
      return recent ?? database.get(orderId);
    },
  };
}
