/**
 * OrderGateService: maps proto <-> domain and calls the use cases; no logic of its own.
 */
import { create } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import type { HandlerContext, ServiceImpl } from '@connectrpc/connect';
import { OrderStatus } from '../../gen/fluxgate/v1/order_pb.js';
import {
  GetOrderResponseSchema,
  PlaceOrderResponseSchema,
  WatchOrderResponseSchema,
  type OrderGateService,
} from '../../gen/fluxgate/v1/order_gate_pb.js';
import { isFinal, type OrderViewSource } from '../domain/order-view.js';
import { orderIdPattern, validatePlaceOrder } from '../domain/order.js';
import { Refusal, invalidArgument } from '../domain/refusal.js';
import { orderToProto } from './proto-mapping.js';
import { createWake } from './wake.js';
import type { OrderPlacer } from '../domain/place-order.js';
import { replayedHeader } from './error-mapping.js';
import { requestIdKey } from './request-id.js';
import { callerKey } from './buyer-auth.js';
import type { Logger } from 'pino';

/** What the service needs. */
export interface OrderGateServiceDeps {
  readonly placer: OrderPlacer;
  readonly orders: OrderViewSource;
  /** Subscribes to an order's status changes; returns the unsubscribe function. */
  readonly onOrderStatus: (orderId: string, listener: () => void) => () => void;
  readonly maxQuantity: number;
  /** Where accepted orders are logged (with the request id, never the idempotency key). */
  readonly logger: Pick<Logger, 'info'>;
}

/**
 * Time kept back from a call's deadline for the answer to reach the caller: an order whose
 * Kafka acknowledgement would come later is answered from the outbox instead.
 */
const answerMarginMs = 50;

/** A watched order is re-read at least this often, in case a change notification was lost. */
const watchPollMs = 2000;

/** Validates an order id from the wire. */
function checkOrderId(orderId: string): void {
  if (!orderIdPattern.test(orderId)) throw invalidArgument('order_id', 'must be a lowercase UUID');
}

/** Header that may carry the idempotency key instead of the field. */
export const idempotencyKeyHeader = 'idempotency-key';

/** Creates the OrderGateService implementation. */
export function createOrderGateService(
  deps: OrderGateServiceDeps,
): Partial<ServiceImpl<typeof OrderGateService>> {
  return {
    async placeOrder(req, context: HandlerContext) {
      // A buyer token names the customer (buyer-auth.ts has refused a body that disagrees);
      // otherwise the body does, and validation refuses it empty.
      const caller = context.values.get(callerKey);
      const valid = validatePlaceOrder(
        {
          sku: req.sku,
          quantity: req.quantity,
          customerId: caller.kind === 'buyer' ? caller.customerId : req.customerId,
          idempotencyKey: req.idempotencyKey,
          idempotencyKeyHeader: context.requestHeader.get(idempotencyKeyHeader) ?? undefined,
          queueTicket: req.queueTicket,
        },
        deps.maxQuantity,
      );
      const requestId = context.values.get(requestIdKey);
      const timeoutMs = context.timeoutMs();
      const placed = await deps.placer.place(
        valid,
        requestId,
        timeoutMs === undefined ? undefined : Date.now() + timeoutMs - answerMarginMs,
      );
      if (placed.replayed) context.responseHeader.set(replayedHeader, 'true');
      deps.logger.info(
        {
          reqId: requestId,
          orderId: placed.order.orderId,
          sku: placed.order.sku,
          quantity: placed.order.quantity,
          replayed: placed.replayed,
          caller: caller.kind === 'service' ? `service:${caller.name}` : caller.kind,
        },
        'order accepted',
      );
      return create(PlaceOrderResponseSchema, {
        orderId: placed.order.orderId,
        status: OrderStatus.PENDING,
        acceptedAt: timestampFromMs(placed.order.acceptedAtMs),
      });
    },

    async getOrder(req) {
      checkOrderId(req.orderId);
      const view = await deps.orders.get(req.orderId);
      if (!view) throw new Refusal('ORDER_NOT_FOUND', `no order with id ${req.orderId}`);
      return create(GetOrderResponseSchema, { order: orderToProto(view) });
    },

    async *watchOrder(req, context) {
      checkOrderId(req.orderId);
      const wake = createWake();
      // Subscribe before the first read, so no change can slip between read and subscription.
      const unsubscribe = deps.onOrderStatus(req.orderId, () => {
        wake.wake();
      });
      try {
        let sent: string | undefined;
        while (!context.signal.aborted) {
          const view = await deps.orders.get(req.orderId);
          if (!view) throw new Refusal('ORDER_NOT_FOUND', `no order with id ${req.orderId}`);
          if (view.status !== sent) {
            sent = view.status;
            yield create(WatchOrderResponseSchema, { order: orderToProto(view) });
          }
          if (isFinal(view)) return;
          await wake.wait(watchPollMs, context.signal);
        }
      } finally {
        unsubscribe();
      }
    },
  };
}
