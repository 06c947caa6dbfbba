/**
 * Queue tickets as signed text: `<key id>.<body>.<signature>`, the body base64url JSON
 * `[sku, customer id, number, issued at ms, drawn 0/1]`, the signature base64url HMAC-SHA256 of
 * `<key id>.<body>` under that key. Every gate holds the same keys, so any gate verifies what
 * any gate issued; the first key signs, the others still verify (rotation).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { QueueTicket, SignedTicket } from '../domain/queue.js';

/** One signing key: its id (written in each ticket) and its secret. */
export interface TicketKey {
  readonly id: string;
  readonly secret: string;
}

/** Why a token is not a ticket of ours. */
export type TicketProblem = 'malformed' | 'signature';

/** Longest token accepted: a body of the longest sku and customer id fits well within it. */
export const maxTokenLength = 512;

const tokenPattern = /^([A-Za-z0-9._-]{1,64})\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]{43})$/;

/** Signs and verifies tickets with the gates' shared keys. */
export class TicketSigner {
  private readonly keys: ReadonlyMap<string, string>;
  private readonly signing: TicketKey;

  /** `keys`: the signing key first, then keys that still verify. */
  constructor(keys: readonly TicketKey[]) {
    const [first] = keys;
    if (first === undefined) throw new Error('a ticket signer needs at least one key');
    this.signing = first;
    this.keys = new Map(keys.map((k) => [k.id, k.secret]));
  }

  /** The ticket with its token. */
  sign(ticket: QueueTicket): SignedTicket {
    const body = Buffer.from(
      JSON.stringify([
        ticket.sku,
        ticket.customerId,
        ticket.number,
        ticket.issuedAtMs,
        ticket.drawn ? 1 : 0,
      ]),
    ).toString('base64url');
    const signed = `${this.signing.id}.${body}`;
    return { ...ticket, token: `${signed}.${mac(this.signing.secret, signed)}` };
  }

  /** The ticket a token holds, or what is wrong with it. */
  verify(token: string): SignedTicket | TicketProblem {
    const match = token.length <= maxTokenLength ? tokenPattern.exec(token) : null;
    if (match === null) return 'malformed';
    const [, keyId = '', body = '', signature = ''] = match;
    const secret = this.keys.get(keyId);
    if (secret === undefined) return 'signature';
    const expected = Buffer.from(mac(secret, `${keyId}.${body}`));
    if (!timingSafeEqual(expected, Buffer.from(signature))) return 'signature';
    const fields: unknown = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
    if (!Array.isArray(fields) || fields.length !== 5) return 'malformed';
    const [sku, customerId, number, issuedAtMs, drawn] = fields as unknown[];
    if (
      typeof sku !== 'string' ||
      typeof customerId !== 'string' ||
      !Number.isSafeInteger(number) ||
      !Number.isSafeInteger(issuedAtMs) ||
      (drawn !== 0 && drawn !== 1)
    )
      return 'malformed';
    return {
      sku,
      customerId,
      number: number as number,
      issuedAtMs: issuedAtMs as number,
      drawn: drawn === 1,
      token,
    };
  }
}

function mac(secret: string, text: string): string {
  return createHmac('sha256', secret).update(text).digest('base64url');
}
