/**
 * The one table that gives the Lua scripts' numeric status codes their meaning. The scripts
 * name the codes (STATUS.SOLD_OUT...) through the prelude that scripts.ts generates from
 * {@link scriptStatus}, so every number is written here only.
 */
import type { AcceptedOrder } from '../domain/order.js';
import type { Reservation, SoldOutOutcome } from '../domain/ports.js';
import { Refusal } from '../domain/refusal.js';
import { entryStates } from '../idempotency/states.js';
import { acceptedOrderFromJson } from './order-codec.js';

/** Status codes returned first by every script that answers with one. */
export const scriptStatus = {
  RESERVED: 0,
  KNOWN_KEY: 1,
  KEY_REUSED: 2,
  SALE_NOT_FOUND: 3,
  SALE_PAUSED: 4,
  SALE_NOT_OPEN: 5,
  SALE_ENDED: 6,
  RATE_LIMITED: 7,
  LIMIT_REACHED: 8,
  SOLD_OUT: 9,
  STOCK_MISSING: 10,
  INSUFFICIENT_STOCK: 11,
  STOCK_LEFT: 12,
  OUTBOX_FULL: 13,
  LEASED: 14,
  TICKETS: 15,
  QUEUE: 16,
  TICKET_WAITING: 17,
  TICKET_EXPIRED: 18,
  TICKET_USED: 19,
} as const;

/** A script reply: status code first, then values. */
export type ScriptReply = [number, ...(string | number)[]];

/** Field `i` of a script reply as a number (fields in the order of the script's header). */
export const replyNumbers =
  (reply: readonly unknown[]) =>
  (i: number): number =>
    Number(reply[i]);

/** The refusal a status code stands for; `value` is the one number the script sent with it. */
function refusalOf(status: number, value: number, sku: string, replayed: boolean): Refusal {
  const options = { replayed };
  const refuse = (reason: Refusal['reason'], message: string, facts = {}) =>
    new Refusal(
      reason,
      replayed ? `${message} (replayed answer of an earlier request with this key)` : message,
      facts,
      options,
    );
  switch (status) {
    case scriptStatus.KEY_REUSED:
      return refuse(
        'IDEMPOTENCY_KEY_REUSED',
        'this idempotency key was already used for a different request',
      );
    case scriptStatus.SALE_NOT_FOUND:
      return refuse('SALE_NOT_FOUND', `no sale with sku ${sku}`);
    case scriptStatus.SALE_PAUSED:
      return refuse('SALE_PAUSED', 'the sale is paused');
    case scriptStatus.SALE_NOT_OPEN:
      return refuse('SALE_NOT_OPEN', 'the sale has not started', { startsAtMs: value });
    case scriptStatus.SALE_ENDED:
      return refuse('SALE_ENDED', 'the sale has ended');
    case scriptStatus.RATE_LIMITED:
      return refuse('RATE_LIMITED', 'too many orders right now; wait for your turn', {
        retryAfterMs: value,
      });
    case scriptStatus.TICKET_EXPIRED:
      return refuse('TICKET_EXPIRED', 'the ticket was called and its turn has passed', {
        calledUntilMs: value,
      });
    case scriptStatus.TICKET_USED:
      return refuse('TICKET_USED', 'the ticket was already used for an order');
    case scriptStatus.LIMIT_REACHED:
      return refuse('PURCHASE_LIMIT_REACHED', 'this would exceed the per-customer limit', {
        remaining: value,
      });
    case scriptStatus.SOLD_OUT:
      return refuse('SOLD_OUT', 'no units left');
    case scriptStatus.INSUFFICIENT_STOCK:
      return refuse('INSUFFICIENT_STOCK', `only ${value} units left`, { unitsLeft: value });
    case scriptStatus.STOCK_MISSING:
      return refuse(
        'SALE_STATE_RELOADING',
        'the sale’s live stock is lost; it is closed until it is reloaded',
      );
    case scriptStatus.OUTBOX_FULL:
      return refuse(
        'DEPENDENCY_UNAVAILABLE',
        'the order queue has been unreachable too long; nothing was reserved',
        { dependency: 'kafka' },
      );
    default:
      throw new Error(`unknown script status ${String(status)}`);
  }
}

/** Turns a place-order / sold-out reply into the domain outcome. */
export function toReservationOutcome(reply: ScriptReply, order: AcceptedOrder): SoldOutOutcome {
  const [status, a, b, c] = reply;
  switch (status) {
    case scriptStatus.RESERVED: {
      const reservation: Reservation = { order, entryId: String(a) };
      return { kind: 'reserved', reservation, unitsLeft: Number(b) };
    }
    case scriptStatus.STOCK_LEFT:
      return { kind: 'stock-left' };
    case scriptStatus.RATE_LIMITED:
      // The sale's admission (not the customer's bucket): the buyer gets a place in the queue.
      if (b === 1) return { kind: 'queued', nowServing: Number(c), retryAfterMs: Number(a) };
      return { kind: 'refused', refusal: refusalOf(status, Number(a), order.sku, false) };
    case scriptStatus.TICKET_WAITING:
      return { kind: 'queued', nowServing: Number(a), retryAfterMs: 0 };
    case scriptStatus.SALE_NOT_OPEN:
      return {
        kind: 'refused',
        refusal: new Refusal('SALE_NOT_OPEN', 'the sale has not started', {
          startsAtMs: Number(a),
          ...(b === 1 ? { lottery: true } : {}),
        }),
      };
    case scriptStatus.KNOWN_KEY:
      // A reserved order is accepted whether or not Kafka has acknowledged it yet: its outbox
      // entry carries it until the broker does.
      if (a === entryStates.RESERVED || a === entryStates.COMPLETED)
        return { kind: 'replay-accepted', order: acceptedOrderFromJson(String(b)) };
      return { kind: 'refused', refusal: refusalOf(Number(b), Number(c), order.sku, true) };
    default:
      return { kind: 'refused', refusal: refusalOf(status, Number(a), order.sku, false) };
  }
}
