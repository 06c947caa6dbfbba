/**
 * A real ticket desk over an in-memory fake of its one port (the sale's queue numbers), for
 * unit tests of the order path: numbers count up from 1 and the queue serves `serving`.
 */
import type { QueueReader, TicketNumbers } from '../../src/queue/ports.js';
import { TicketDesk } from '../../src/queue/ticket-desk.js';
import { TicketSigner } from '../../src/queue/ticket-signer.js';

/** The key every test gate and unit test signs with (isolatedConfig sets it too). */
export const testTicketKeys = [{ id: 'test', secret: 'a-test-ticket-key-not-a-secret' }];

/** A desk whose numbers come from memory; `queue.serving` and `queue.rate` may be changed. */
export function memoryTicketDesk(options: { maxBlock?: number; blockMaxAgeMs?: number } = {}) {
  const queue = { issued: 0, serving: 0, rate: 10, takes: 0 };
  const numbers: TicketNumbers & QueueReader = {
    take: async (_sku, count) => {
      queue.takes++;
      queue.issued += count;
      return { last: queue.issued, nowServing: queue.serving, rate: queue.rate, beforeDraw: false };
    },
    // The order path reads the queue only for a drawn ticket: none here.
    read: async () => undefined,
  };
  const desk = new TicketDesk(numbers, new TicketSigner(testTicketKeys), {
    maxBlock: options.maxBlock ?? 64,
    blockMaxAgeMs: options.blockMaxAgeMs ?? 250,
  });
  return { desk, queue };
}
