/**
 * Order status and reject reason, domain names ⇄ generated protobuf enum values: the one map,
 * shared by the RPCs (src/gate/proto-mapping.ts) and the Kafka events (src/kafka/codec.ts).
 */
import { OrderStatus, RejectReason } from '../../gen/fluxgate/v1/order_pb.js';
import type { OrderStatusName, RejectReasonName } from '../domain/order-view.js';

const statusValues = {
  PENDING: OrderStatus.PENDING,
  CONFIRMED: OrderStatus.CONFIRMED,
  REJECTED: OrderStatus.REJECTED,
} as const satisfies Record<OrderStatusName, OrderStatus>;

const reasonValues = {
  INSUFFICIENT_STOCK: RejectReason.INSUFFICIENT_STOCK,
  UNKNOWN_PRODUCT: RejectReason.UNKNOWN_PRODUCT,
} as const satisfies Record<RejectReasonName, RejectReason>;

const statusNames = new Map<OrderStatus, OrderStatusName>(
  Object.entries(statusValues).map(([name, value]) => [value, name as OrderStatusName]),
);
const reasonNames = new Map<RejectReason, RejectReasonName>(
  Object.entries(reasonValues).map(([name, value]) => [value, name as RejectReasonName]),
);

/** The proto value of a status. */
export function orderStatusToProto(status: OrderStatusName): OrderStatus {
  return statusValues[status];
}

/** The status a proto value names; throws for UNSPECIFIED or a value this build does not know. */
export function orderStatusFromProto(status: OrderStatus): OrderStatusName {
  const name = statusNames.get(status);
  if (name === undefined) throw new Error(`invalid order status ${String(status)}`);
  return name;
}

/** The proto value of a reject reason; UNSPECIFIED for none. */
export function rejectReasonToProto(reason: RejectReasonName | null): RejectReason {
  return reason === null ? RejectReason.UNSPECIFIED : reasonValues[reason];
}

/** The reject reason a proto value names, null for UNSPECIFIED; throws for an unknown value. */
export function rejectReasonFromProto(reason: RejectReason): RejectReasonName | null {
  if (reason === RejectReason.UNSPECIFIED) return null;
  const name = reasonNames.get(reason);
  if (name === undefined) throw new Error(`invalid reject reason ${String(reason)}`);
  return name;
}
