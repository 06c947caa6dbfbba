/**
 * Orders: input formats, validation at the edge, and the accepted order that travels from the
 * reservation to Kafka to the database.
 */
import { invalidArgument } from './refusal.js';

/** sku: 1-64 of A-Z a-z 0-9 . _ - */
export const skuPattern = /^[A-Za-z0-9._-]{1,64}$/;
/** customer id: 1-128 of A-Z a-z 0-9 . _ - @ : */
export const customerIdPattern = /^[A-Za-z0-9._@:-]{1,128}$/;
/** idempotency key: 1-255 printable ASCII (space to tilde). */
export const idempotencyKeyPattern = /^[\x20-\x7e]{1,255}$/;
/** order id: lowercase UUID (the gate issues version 7). */
export const orderIdPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Checks a sku from the wire; throws an INVALID_ARGUMENT Refusal naming `field`. */
export function checkSku(sku: string, field = 'sku'): string {
  if (!skuPattern.test(sku))
    throw invalidArgument(field, 'must be 1-64 characters of A-Z, a-z, 0-9, ".", "_", "-"');
  return sku;
}

/** A PlaceOrder request as the edge received it. */
export interface PlaceOrderInput {
  readonly sku: string;
  readonly quantity: number;
  readonly customerId: string;
  /** From the message field. */
  readonly idempotencyKey: string;
  /** From the `idempotency-key` header, when sent. */
  readonly idempotencyKeyHeader: string | undefined;
  /** The signed queue ticket, '' or absent when none (checked by the waiting room, src/queue/). */
  readonly queueTicket?: string;
}

/** A PlaceOrder request that passed validation. */
export interface ValidOrderRequest {
  readonly sku: string;
  readonly quantity: number;
  readonly customerId: string;
  readonly idempotencyKey: string;
  /** The signed queue ticket as sent, absent when none: not part of the request's identity. */
  readonly queueTicket?: string;
}

/**
 * Checks a PlaceOrder request before anything else sees it; throws a Refusal
 * (INVALID_ARGUMENT, naming the field) on the first problem.
 */
export function validatePlaceOrder(input: PlaceOrderInput, maxQuantity: number): ValidOrderRequest {
  checkSku(input.sku);
  if (!Number.isInteger(input.quantity) || input.quantity < 1 || input.quantity > maxQuantity) {
    throw invalidArgument('quantity', `must be an integer from 1 to ${maxQuantity}`);
  }
  if (!customerIdPattern.test(input.customerId)) {
    throw invalidArgument(
      'customer_id',
      'must be 1-128 characters of A-Z, a-z, 0-9, ".", "_", "-", "@", ":"',
    );
  }
  const header = input.idempotencyKeyHeader;
  if (header !== undefined && input.idempotencyKey !== '' && header !== input.idempotencyKey) {
    throw invalidArgument('idempotency_key', 'differs from the idempotency-key header');
  }
  const key = input.idempotencyKey !== '' ? input.idempotencyKey : (header ?? '');
  if (key === '')
    throw invalidArgument('idempotency_key', 'is required (field or idempotency-key header)');
  if (!idempotencyKeyPattern.test(key))
    throw invalidArgument('idempotency_key', 'must be 1-255 printable ASCII characters');
  return {
    sku: input.sku,
    quantity: input.quantity,
    customerId: input.customerId,
    idempotencyKey: key,
    ...(input.queueTicket ? { queueTicket: input.queueTicket } : {}),
  };
}

/** An order the gate accepted: reserved in Redis, on its way to Kafka and the database. */
export interface AcceptedOrder {
  readonly orderId: string;
  readonly sku: string;
  readonly quantity: number;
  readonly customerId: string;
  /** Hex SHA-256 of the customer id and the idempotency key (src/idempotency/fingerprint.ts). */
  readonly idempotencyKeyHash: string;
  readonly acceptedAtMs: number;
  /** Request id of the PlaceOrder call, for following the order through the logs. */
  readonly requestId: string;
}
