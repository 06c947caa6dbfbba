/**
 * OrderGateService: maps proto <-> domain and calls the use cases; no logic of its own.
 */
import { create } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import type { HandlerContext, ServiceImpl } from '@connectrpc/connect';
import { OrderStatus } from '../../gen/fluxgate/v1/order_pb.js';
import {
  PlaceOrderResponseSchema,
  type OrderGateService,
} from '../../gen/fluxgate/v1/order_gate_pb.js';
import { validatePlaceOrder } from '../domain/order.js';
import type { OrderPlacer } from '../domain/place-order.js';
import { replayedHeader, toConnectError } from './error-mapping.js';
import { requestIdKey } from './request-id.js';

/** What the service needs. */
export interface OrderGateServiceDeps {
  readonly placer: OrderPlacer;
  readonly maxQuantity: number;
  readonly now: () => number;
}

/** Header that may carry the idempotency key instead of the field. */
export const idempotencyKeyHeader = 'idempotency-key';

/** Creates the OrderGateService implementation. */
export function createOrderGateService(
  deps: OrderGateServiceDeps,
): Partial<ServiceImpl<typeof OrderGateService>> {
  return {
    async placeOrder(req, context: HandlerContext) {
      try {
        const valid = validatePlaceOrder(
          {
            sku: req.sku,
            quantity: req.quantity,
            customerId: req.customerId,
            idempotencyKey: req.idempotencyKey,
            idempotencyKeyHeader: context.requestHeader.get(idempotencyKeyHeader) ?? undefined,
          },
          deps.maxQuantity,
        );
        const placed = await deps.placer.place(valid, context.values.get(requestIdKey));
        if (placed.replayed) context.responseHeader.set(replayedHeader, 'true');
        return create(PlaceOrderResponseSchema, {
          orderId: placed.order.orderId,
          status: OrderStatus.PENDING,
          acceptedAt: timestampFromMs(placed.order.acceptedAtMs),
        });
      } catch (error) {
        throw toConnectError(error, req.sku, deps.now());
      }
    },
  };
}
