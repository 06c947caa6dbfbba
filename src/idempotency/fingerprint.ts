/**
 * What makes two PlaceOrder requests "the same request": the fingerprint stored with an
 * idempotency entry, and the key's hash, the only form in which a key is stored or published.
 */
import { createHash } from 'node:crypto';
import type { ValidOrderRequest } from '../domain/order.js';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/**
 * The request fingerprint: two requests with the same idempotency key must agree on it.
 * Length-prefixed so that no two different requests can produce the same text.
 */
export function fingerprintOf(request: ValidOrderRequest): string {
  const parts = [request.sku, String(request.quantity), request.customerId];
  return sha256(parts.map((p) => `${p.length}:${p}`).join('|'));
}

/** Hex SHA-256 of an idempotency key. */
export function hashIdempotencyKey(key: string): string {
  return sha256(key);
}
