/** Finds an order's view: the live store knows recent orders, the database every recorded one. */
import type { OrderView, OrderViewSource } from './order-view.js';

/**
 * Combines the live source (first) and the database (for orders the live store forgot).
 *
 * A live PENDING is trusted as it is, however old: the worker writes every committed status
 * to the live store before it commits its offsets, and writes it again whenever the batch is
 * redelivered (src/worker/consume.ts), so PENDING there means not recorded yet. Asking the
 * database about old PENDING orders instead would add a read to every GetOrder and WatchOrder
 * poll of a waiting order, exactly when the worker is behind and the database busiest.
 */
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
