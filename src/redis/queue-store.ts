/**
 * The Redis side of the waiting room: blocks of ticket numbers (take-tickets.lua) and the
 * queue's standing (queue-status.lua), one script call each. Each call offers a fresh random
 * seed, which the script keeps only for a sale with a pre-queue lottery that has none yet.
 */
import { randomBytes } from 'node:crypto';
import type { TicketAdmission } from '../domain/ports.js';
import type { QueueReader, TicketNumbers } from '../queue/ports.js';
import type { RedisClient } from './client.js';
import { replyNumbers, scriptStatus } from './codes.js';
import type { Keys } from './keys.js';
import { queueStatusArgs, takeTicketsArgs, timedScripts, type ScriptName } from './scripts.js';

/** 32 random bytes, hex: a draw's seed if the script keeps it. */
const freshSeed = () => randomBytes(32).toString('hex');

/** Creates both on a client on which {@link registerScripts} was called. */
export function createRedisQueueStore(
  redis: RedisClient,
  keys: Keys,
  turnMs: number,
  onScript: (script: ScriptName, seconds: number) => void = () => undefined,
): TicketNumbers & QueueReader {
  const run = timedScripts(redis, onScript);
  return {
    async take(sku, count) {
      const reply = (await run.takeTickets(
        ...takeTicketsArgs(keys, sku, count, freshSeed()),
      )) as number[];
      if (reply[0] === scriptStatus.SALE_NOT_FOUND) return undefined;
      if (reply[0] !== scriptStatus.TICKETS || reply.length !== 7)
        throw new Error(`take-tickets answered ${JSON.stringify(reply)}`);
      const n = replyNumbers(reply);
      return {
        last: n(1),
        nowServing: n(3),
        rate: n(4),
        // Taken before the start (Redis clock) of a sale with a lottery: the block's are drawn.
        beforeDraw: n(6) === 1 && n(2) < n(5),
      };
    },

    async read(sku: string, ticket?: TicketAdmission) {
      const reply = (await run.queueStatus(
        ...queueStatusArgs(keys, sku, turnMs, freshSeed(), ticket),
      )) as (number | string)[];
      if (reply[0] === scriptStatus.SALE_NOT_FOUND) return undefined;
      if (reply[0] !== scriptStatus.QUEUE || reply.length !== 14)
        throw new Error(`queue-status answered ${JSON.stringify(reply)}`);
      const n = replyNumbers(reply);
      return {
        queue: {
          nowMs: n(1),
          serving: n(2),
          issued: n(3),
          unitsLeft: n(4),
          startsAtMs: n(5),
          endsAtMs: n(6),
          paused: n(7) === 1,
          rate: n(8),
          draw: n(11) === 1 ? { seed: String(reply[13]), entrants: n(12) } : undefined,
        },
        used: n(9) === 1,
        turnEndsMs: n(10),
      };
    },
  };
}
