/**
 * What makes two PlaceOrder requests "the same request": the fingerprint stored with an
 * idempotency entry, and the key's hash, the only form in which a key is stored or published.
 */
import { createHash } from 'node:crypto';
import type { ValidOrderRequest } from '../domain/order.js';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** Length-prefixed, so that no two different lists of parts can produce the same text. */
const joined = (parts: readonly string[]) => parts.map((p) => `${p.length}:${p}`).join('|');

/** The request fingerprint: two requests with the same idempotency key must agree on it. */
export function fingerprintOf(request: ValidOrderRequest): string {
  return sha256(joined([request.sku, String(request.quantity), request.customerId]));
}

/**
 * Hex SHA-256 of the customer id and the idempotency key: the name of the idempotency entry
 * (per sale) and of the recorded order's key. The customer is part of it, so the same key from
 * another customer is simply another request: it can neither receive the first customer's
 * answer nor learn that the key exists.
 */
export function hashIdempotencyKey(customerId: string, key: string): string {
  return sha256(joined([customerId, key]));
}
