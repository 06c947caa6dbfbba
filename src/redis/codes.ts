/**
 * The one table that gives the Lua scripts' numeric status codes their meaning.
 */
import type { AcceptedOrder } from '../domain/order.js';
import type { Reservation, ReservationOutcome, StoredRefusal } from '../domain/ports.js';
import { Refusal } from '../domain/refusal.js';

/** Status codes returned first by place-order.lua and sold-out.lua. */
export const scriptStatus = {
  reserved: 0,
  knownKey: 1,
  keyReused: 2,
  saleNotFound: 3,
  salePaused: 4,
  saleNotOpen: 5,
  saleEnded: 6,
  rateLimited: 7,
  limitReached: 8,
  soldOut: 9,
  stockMissing: 10,
} as const;

/** A script reply: status code first, then values. */
export type ScriptReply = [number, ...(string | number)[]];

/** Turns a place-order / sold-out reply into the domain outcome. */
export function toReservationOutcome(reply: ScriptReply, order: AcceptedOrder): ReservationOutcome {
  const [status, a, b] = reply;
  const refused = (reason: StoredRefusal['reason'], message: string, facts = {}) =>
    ({ kind: 'refused', refusal: new Refusal(reason, message, facts) }) as const;
  switch (status) {
    case scriptStatus.reserved: {
      const reservation: Reservation = { order, entryId: String(a) };
      return { kind: 'reserved', reservation, unitsLeft: Number(b) };
    }
    case scriptStatus.knownKey: {
      const answer = String(b);
      if (a === 'RESERVED') return { kind: 'in-flight' };
      if (a === 'COMPLETED')
        return { kind: 'replay-accepted', order: JSON.parse(answer) as AcceptedOrder };
      return { kind: 'replay-refused', refusal: JSON.parse(answer) as StoredRefusal };
    }
    case scriptStatus.keyReused:
      return refused(
        'IDEMPOTENCY_KEY_REUSED',
        'this idempotency key was already used for a different request',
      );
    case scriptStatus.saleNotFound:
      return refused('SALE_NOT_FOUND', `no sale with sku ${order.sku}`);
    case scriptStatus.salePaused:
      return refused('SALE_PAUSED', 'the sale is paused');
    case scriptStatus.saleNotOpen:
      return refused('SALE_NOT_OPEN', 'the sale has not started', { startsAtMs: Number(a) });
    case scriptStatus.saleEnded:
      return refused('SALE_ENDED', 'the sale has ended');
    case scriptStatus.rateLimited:
      return refused('RATE_LIMITED', 'too many orders right now; wait for your turn', {
        retryAfterMs: Number(a),
      });
    case scriptStatus.limitReached:
      return refused('PURCHASE_LIMIT_REACHED', 'this would exceed the per-customer limit', {
        remaining: Number(a),
      });
    case scriptStatus.soldOut:
      return refused('SOLD_OUT', 'not enough units left');
    case scriptStatus.stockMissing:
      return refused(
        'DEPENDENCY_UNAVAILABLE',
        'the sale’s stock counter is missing; sales are closed until it is reloaded',
      );
    default:
      throw new Error(`unknown script status ${String(status)}`);
  }
}
