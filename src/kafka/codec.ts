/**
 * Domain <-> protobuf for the Kafka events. Decoding validates: a record that decodes but
 * breaks the contract is as poisonous as one that does not decode.
 */
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { timestampDate, timestampFromMs } from '@bufbuild/protobuf/wkt';
import { OrderAcceptedSchema } from '../../gen/fluxgate/v1/events_pb.js';
import {
  customerIdPattern,
  orderIdPattern,
  skuPattern,
  type AcceptedOrder,
} from '../domain/order.js';

/** Encodes an accepted order as the OrderAccepted event. */
export function encodeOrderAccepted(order: AcceptedOrder): Uint8Array {
  return toBinary(
    OrderAcceptedSchema,
    create(OrderAcceptedSchema, {
      orderId: order.orderId,
      sku: order.sku,
      quantity: order.quantity,
      customerId: order.customerId,
      idempotencyKeyHash: order.idempotencyKeyHash,
      acceptedAt: timestampFromMs(order.acceptedAtMs),
      requestId: order.requestId,
    }),
  );
}

/** Decodes and validates an OrderAccepted event; throws an Error saying what is wrong. */
export function decodeOrderAccepted(bytes: Uint8Array): AcceptedOrder {
  const e = fromBinary(OrderAcceptedSchema, bytes);
  if (!orderIdPattern.test(e.orderId))
    throw new Error(`invalid order_id ${JSON.stringify(e.orderId)}`);
  if (!skuPattern.test(e.sku)) throw new Error(`invalid sku ${JSON.stringify(e.sku)}`);
  if (!Number.isInteger(e.quantity) || e.quantity < 1)
    throw new Error(`invalid quantity ${e.quantity}`);
  if (!customerIdPattern.test(e.customerId))
    throw new Error(`invalid customer_id ${JSON.stringify(e.customerId)}`);
  if (!/^[0-9a-f]{64}$/.test(e.idempotencyKeyHash)) throw new Error('invalid idempotency_key_hash');
  if (!e.acceptedAt) throw new Error('missing accepted_at');
  return {
    orderId: e.orderId,
    sku: e.sku,
    quantity: e.quantity,
    customerId: e.customerId,
    idempotencyKeyHash: e.idempotencyKeyHash,
    acceptedAtMs: timestampDate(e.acceptedAt).getTime(),
    requestId: e.requestId,
  };
}
