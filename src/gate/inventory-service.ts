/** InventoryService: live stock for storefronts. Maps proto <-> domain; no logic of its own. */
import { create } from '@bufbuild/protobuf';
import type { ServiceImpl } from '@connectrpc/connect';
import {
  GetStockResponseSchema,
  WatchStockResponseSchema,
  type InventoryService,
} from '../../gen/fluxgate/v1/inventory_pb.js';
import type { Admin } from '../domain/admin.js';
import { checkSku } from '../domain/order.js';
import { isTerminal } from '../domain/stock.js';
import { stockToProto } from './proto-mapping.js';
import { createWake } from './wake.js';

/** What the service needs. */
export interface InventoryServiceDeps {
  readonly stock: Admin['stock'];
  /** Subscribes to sale changes (restock, pause...); returns the unsubscribe function. */
  readonly onSaleChanged: (listener: (sku: string) => void) => () => void;
}

/** A watched stock is read once per interval: changes are coalesced to at most 4 messages a second. */
const watchIntervalMs = 250;

/** Creates the InventoryService implementation. */
export function createInventoryService(
  deps: InventoryServiceDeps,
): ServiceImpl<typeof InventoryService> {
  return {
    async getStock(req) {
      checkSku(req.sku);
      return create(GetStockResponseSchema, { stock: stockToProto(await deps.stock(req.sku)) });
    },

    async *watchStock(req, context) {
      checkSku(req.sku);
      const wake = createWake();
      const unsubscribe = deps.onSaleChanged((sku) => {
        if (sku === req.sku) wake.wake();
      });
      try {
        let sent: string | undefined;
        while (!context.signal.aborted) {
          const readAt = Date.now();
          const view = await deps.stock(req.sku);
          const fingerprint = `${view.unitsLeft}/${view.state}/${view.sale.totalStock}`;
          if (fingerprint !== sent) {
            sent = fingerprint;
            yield create(WatchStockResponseSchema, { stock: stockToProto(view) });
          }
          if (isTerminal(view.state)) return;
          // Orders change the stock without a notification: the interval is the poll. A sale
          // change (restock, pause) wakes the stream early, but never to more than one read
          // per interval, however many changes come.
          await wake.wait(watchIntervalMs, context.signal);
          const rest = readAt + watchIntervalMs - Date.now();
          if (rest > 0) await new Promise((resolve) => setTimeout(resolve, rest));
        }
      } finally {
        unsubscribe();
      }
    },
  };
}
