/**
 * Every Kafka message of the contract, domain <-> protobuf, in one place: OrderAccepted (gate to
 * worker), OrderStatusChanged (worker to watchers, on its topic and the gates' Redis channel),
 * DeadLetter (worker to operators), and the record headers: `request-id`, and the W3C trace
 * context (`traceparent`, `tracestate`) of a record published within a traced call. Decoding
 * validates: a record that decodes but breaks the contract is as poisonous as one that does not
 * decode.
 */
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { timestampDate, timestampFromMs, type Timestamp } from '@bufbuild/protobuf/wkt';
import {
  context,
  propagation,
  ROOT_CONTEXT,
  trace,
  type Context,
  type Span,
  type TextMapGetter,
} from '@opentelemetry/api';
import type { IHeaders } from 'kafkajs';
import {
  DeadLetterSchema,
  OrderAcceptedSchema,
  OrderStatusChangedSchema,
} from '../../gen/fluxgate/v1/events_pb.js';
import {
  orderStatusFromProto,
  orderStatusToProto,
  rejectReasonFromProto,
  rejectReasonToProto,
} from '../contract/order-status.js';
import type { OrderStatusChange } from '../domain/order-events.js';
import {
  customerIdPattern,
  orderIdPattern,
  skuPattern,
  type AcceptedOrder,
} from '../domain/order.js';

/** Header of every OrderAccepted record: the request id of the PlaceOrder call. */
export const requestIdHeader = 'request-id';

/** The request id a record's headers carry, or undefined. */
export function requestIdOf(headers: IHeaders | undefined): string | undefined {
  return headerText(headers, requestIdHeader);
}

/** A header's first value as text (kafkajs gives a consumer Buffers, or arrays of them). */
function headerText(headers: IHeaders | undefined, name: string): string | undefined {
  const value = headers?.[name];
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined ? undefined : first.toString();
}

/**
 * The W3C trace context headers (`traceparent`, and `tracestate` when there is one) of a record
 * published within `span`. Empty while no SDK is registered (tracing off).
 */
export function traceContextHeaders(span: Span): Record<string, string> {
  const headers: Record<string, string> = {};
  propagation.inject(trace.setSpan(context.active(), span), headers);
  return headers;
}

const recordHeaders: TextMapGetter<IHeaders> = {
  keys: (headers) => Object.keys(headers),
  get: headerText,
};

/** The trace context a record's headers carry; the root context when none (or tracing off). */
export function traceContextOf(headers: IHeaders | undefined): Context {
  return propagation.extract(ROOT_CONTEXT, headers ?? {}, recordHeaders);
}

const msOf = (t: Timestamp | undefined, field: string): number => {
  if (!t) throw new Error(`missing ${field}`);
  return timestampDate(t).getTime();
};

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
  return {
    orderId: e.orderId,
    sku: e.sku,
    quantity: e.quantity,
    customerId: e.customerId,
    idempotencyKeyHash: e.idempotencyKeyHash,
    acceptedAtMs: msOf(e.acceptedAt, 'accepted_at'),
    requestId: e.requestId,
  };
}

/** Encodes a committed status change as the OrderStatusChanged event. */
export function encodeOrderStatusChanged(change: OrderStatusChange): Uint8Array {
  return toBinary(
    OrderStatusChangedSchema,
    create(OrderStatusChangedSchema, {
      orderId: change.orderId,
      sku: change.sku,
      status: orderStatusToProto(change.status),
      rejectReason: rejectReasonToProto(change.rejectReason),
      quantity: change.quantity,
      changedAt: timestampFromMs(change.changedAtMs),
    }),
  );
}

/** Decodes and validates an OrderStatusChanged event; throws an Error saying what is wrong. */
export function decodeOrderStatusChanged(bytes: Uint8Array): OrderStatusChange {
  const e = fromBinary(OrderStatusChangedSchema, bytes);
  if (!orderIdPattern.test(e.orderId))
    throw new Error(`invalid order_id ${JSON.stringify(e.orderId)}`);
  const status = orderStatusFromProto(e.status);
  if (status === 'PENDING') throw new Error('invalid status PENDING: a change is to a final one');
  const rejectReason = rejectReasonFromProto(e.rejectReason);
  if ((status === 'REJECTED') !== (rejectReason !== null))
    throw new Error(`reject_reason ${String(rejectReason)} does not fit status ${status}`);
  return {
    orderId: e.orderId,
    sku: e.sku,
    quantity: e.quantity,
    status,
    rejectReason,
    changedAtMs: msOf(e.changedAt, 'changed_at'),
  };
}

/** A record the worker could not process, with where it came from and why. */
export interface DeadLetter {
  readonly sourceTopic: string;
  readonly sourcePartition: number;
  /** Offset in the source partition (a decimal string, as Kafka clients give it). */
  readonly sourceOffset: string;
  /** The record's key and value, as received (empty when the record had none). */
  readonly key: Uint8Array;
  readonly value: Uint8Array;
  /** Why, for humans. */
  readonly error: string;
  /** The request id the record carried; empty when it carried none. */
  readonly requestId: string;
  readonly deadLetteredAtMs: number;
}

/** Encodes a dead letter as the DeadLetter envelope. */
export function encodeDeadLetter(letter: DeadLetter): Uint8Array {
  return toBinary(
    DeadLetterSchema,
    create(DeadLetterSchema, {
      sourceTopic: letter.sourceTopic,
      sourcePartition: letter.sourcePartition,
      sourceOffset: BigInt(letter.sourceOffset),
      key: letter.key,
      value: letter.value,
      error: letter.error,
      requestId: letter.requestId,
      deadLetteredAt: timestampFromMs(letter.deadLetteredAtMs),
    }),
  );
}

/** Decodes a DeadLetter envelope; throws an Error saying what is wrong. */
export function decodeDeadLetter(bytes: Uint8Array): DeadLetter {
  const e = fromBinary(DeadLetterSchema, bytes);
  return {
    sourceTopic: e.sourceTopic,
    sourcePartition: e.sourcePartition,
    sourceOffset: e.sourceOffset.toString(),
    key: e.key,
    value: e.value,
    error: e.error,
    requestId: e.requestId,
    deadLetteredAtMs: msOf(e.deadLetteredAt, 'dead_lettered_at'),
  };
}
