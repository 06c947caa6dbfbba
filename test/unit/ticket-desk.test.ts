/**
 * Queue tickets: the signature binds every field and rotates by key id; the desk numbers a
 * customer once while they wait, takes blocks of numbers sized to its demand, drops a block past
 * its age, and estimates the wait from the measured rate.
 */
import { createHash } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { Refusal } from '../../src/domain/refusal.js';
import { drawRanks, seedCommitment } from '../../src/queue/draw.js';
import type { QueueReader, TicketNumbers } from '../../src/queue/ports.js';
import { TicketDesk } from '../../src/queue/ticket-desk.js';
import { TicketSigner } from '../../src/queue/ticket-signer.js';

const ticket = {
  sku: 'S-1',
  customerId: 'ann',
  number: 42,
  issuedAtMs: 1_700_000_000_000,
  drawn: false,
};

describe('ticket signer', () => {
  const signer = new TicketSigner([{ id: 'k1', secret: 'first-secret-0123456789' }]);

  test('a signed ticket verifies to its fields; any changed character does not', () => {
    const signed = signer.sign(ticket);
    expect(signer.verify(signed.token)).toEqual(signed);
    for (let i = 0; i < signed.token.length; i++) {
      const c = signed.token[i]!;
      if (c === '.') continue;
      const changed = `${signed.token.slice(0, i)}${c === 'A' ? 'B' : 'A'}${signed.token.slice(i + 1)}`;
      expect(signer.verify(changed), `character ${i}`).not.toEqual(signed);
      expect(['signature', 'malformed']).toContain(signer.verify(changed));
    }
  });

  test('rotation: a new key signs, the old one still verifies; a key nobody holds does not', () => {
    const old = signer.sign(ticket);
    const rotated = new TicketSigner([
      { id: 'k2', secret: 'second-secret-012345678' },
      { id: 'k1', secret: 'first-secret-0123456789' },
    ]);
    expect(rotated.verify(old.token)).toEqual(old);
    expect(rotated.sign(ticket).token).toMatch(/^k2\./);
    const retired = new TicketSigner([{ id: 'k2', secret: 'second-secret-012345678' }]);
    expect(retired.verify(old.token)).toBe('signature');
  });

  test('not a ticket: malformed', () => {
    for (const token of ['', 'x', 'a.b', 'a.b.c', `k1.${'A'.repeat(600)}.${'B'.repeat(43)}`])
      expect(signer.verify(token), token.slice(0, 20)).toBe('malformed');
  });
});

/** A desk over numbers kept in memory, on a clock the test moves. */
function deskWith(options: { maxBlock?: number; blockMaxAgeMs?: number } = {}) {
  const clock = { now: 0 };
  const queue = { issued: 0, serving: 0, takes: [] as number[] };
  const numbers: TicketNumbers & QueueReader = {
    take: async (_sku, count) => {
      queue.takes.push(count);
      queue.issued += count;
      return { last: queue.issued, nowServing: queue.serving, rate: 10, beforeDraw: false };
    },
    read: async () => undefined,
  };
  const signer = new TicketSigner([{ id: 'k', secret: 'desk-test-secret-0123' }]);
  const desk = new TicketDesk(numbers, signer, {
    maxBlock: options.maxBlock ?? 64,
    blockMaxAgeMs: options.blockMaxAgeMs ?? 250,
    now: () => clock.now,
  });
  return { desk, queue, clock };
}

describe('ticket desk', () => {
  test('a customer refused again while waiting gets the same ticket; once called, a new one', async () => {
    const { desk, queue } = deskWith();
    const first = await desk.issue('S', 'ann');
    expect(await desk.issue('S', 'ann')).toEqual(first);
    expect((await desk.issue('S', 'bob')).number).toBe(first.number + 1);
    desk.observe('S', first.number);
    queue.serving = first.number;
    expect((await desk.issue('S', 'ann')).number).toBeGreaterThan(first.number + 1);
  });

  test('a trickle takes one number a call; a flood takes blocks sized to half its demand, up to the largest', async () => {
    const { desk, queue, clock } = deskWith({ maxBlock: 64 });
    for (let i = 0; i < 5; i++) {
      await desk.issue('S', `slow-${i}`);
      clock.now += 1000;
    }
    expect(queue.takes).toEqual([1, 1, 1, 1, 1]);
    queue.takes.length = 0;
    // 1,000 buyers at once: the blocks grow with the demand counted so far.
    const flood = await Promise.all(
      Array.from({ length: 1000 }, (_, i) => desk.issue('S', `fast-${i}`)),
    );
    expect(new Set(flood.map((t) => t.number)).size).toBe(1000);
    expect(Math.max(...queue.takes)).toBe(64);
    expect(queue.takes.length).toBeLessThan(1000 / 10);
    expect(desk.counts()).toEqual({ ticketsIssued: 1005, blocksTaken: 5 + queue.takes.length });
  });

  test('a block older than its age is dropped: a later buyer gets a fresh number, never an old one', async () => {
    const { desk, queue, clock } = deskWith({ blockMaxAgeMs: 250 });
    // Demand of 20 in the window: the next block holds 10.
    await Promise.all(Array.from({ length: 20 }, (_, i) => desk.issue('S', `early-${i}`)));
    const issuedBefore = queue.issued;
    expect(issuedBefore).toBeGreaterThan(20); // numbers left in the block
    clock.now += 251;
    const late = await desk.issue('S', 'late');
    expect(late.number).toBe(issuedBefore + 1);
  });

  test('the wait is the people ahead at the measured rate; a position far past the reach of the rate is surely waiting', () => {
    const { desk, clock } = deskWith();
    desk.observe('S', 100, 10);
    clock.now += 2000;
    desk.observe('S', 140); // 40 in 2 s: 20 a second measured, the sale's 10 notwithstanding
    expect(desk.measuredRate('S')).toBe(20);
    expect(desk.estimateWaitMs('S', 160)).toBe(1000);
    expect(desk.estimateWaitMs('S', 120)).toBe(0);
    // Within a second the queue can reach at most 140 + 10 x 1 (rate) + burst 5 + 1.
    expect(desk.surelyWaiting('S', 150, 5)).toBe(false);
    expect(desk.surelyWaiting('S', 160, 5)).toBe(true);
  });

  test('a ticket brought back is checked against the order: another sale or customer is refused', () => {
    const { desk } = deskWith();
    const signer = new TicketSigner([{ id: 'k', secret: 'desk-test-secret-0123' }]);
    const { token } = signer.sign(ticket);
    expect(desk.check(token, 'S-1', 'ann').number).toBe(42);
    const refusal = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return e as Refusal;
      }
      return expect.fail('no refusal');
    };
    expect(refusal(() => desk.check(token, 'S-2', 'ann'))).toMatchObject({
      reason: 'TICKET_INVALID',
      facts: { field: 'queue_ticket', problem: 'sale' },
    });
    expect(refusal(() => desk.check(token, 'S-1', 'bob')).reason).toBe('TICKET_NOT_YOURS');
    expect(refusal(() => desk.read('nope'))).toMatchObject({
      reason: 'TICKET_INVALID',
      facts: { field: 'ticket', problem: 'malformed' },
    });
  });
});

describe('the pre-queue draw', () => {
  const seed = 'ab'.repeat(32);
  test('the same seed gives the same order, a permutation of the entrants; another seed another order', () => {
    const ranks = drawRanks(seed, 1000);
    expect(drawRanks(seed, 1000)).toEqual(ranks);
    expect([...ranks.slice(1)].sort((a, b) => a - b)).toEqual(
      Array.from({ length: 1000 }, (_, i) => i + 1),
    );
    const other = drawRanks('cd'.repeat(32), 1000);
    expect(other).not.toEqual(ranks);
    // Not the arrival order.
    expect([...ranks.slice(1, 11)]).not.toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });

  test('the commitment is the SHA-256 of the seed bytes; the order is by SHA-256(seed || number)', () => {
    expect(seedCommitment(seed)).toBe(
      createHash('sha256').update(Buffer.from(seed, 'hex')).digest('hex'),
    );
    const key = (n: number) => {
      const b = Buffer.alloc(8);
      b.writeBigUInt64BE(BigInt(n));
      return createHash('sha256').update(Buffer.from(seed, 'hex')).update(b).digest('hex');
    };
    const expected = Array.from({ length: 50 }, (_, i) => i + 1).sort((a, b) =>
      key(a) < key(b) ? -1 : 1,
    );
    const ranks = drawRanks(seed, 50);
    expect(expected.map((n) => ranks[n])).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
  });
});
