/**
 * The Redis side of the waiting room: blocks of ticket numbers (take-tickets.lua) and the
 * queue's standing (queue-status.lua), one script call each.
 */
import type { TicketAdmission } from '../domain/ports.js';
import type { TicketNumbers } from '../queue/ticket-desk.js';
import type { QueueReader } from '../queue/queue-watch.js';
import type { RedisClient } from './client.js';
import { scriptStatus } from './codes.js';
import type { Keys } from './keys.js';
import { queueStatusArgs, takeTicketsArgs, timedScripts, type ScriptName } from './scripts.js';

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
      const reply = (await run.takeTickets(...takeTicketsArgs(keys, sku, count))) as number[];
      if (reply[0] === scriptStatus.SALE_NOT_FOUND) return undefined;
      const [status, last, , nowServing, rate] = reply;
      if (status !== scriptStatus.TICKETS || rate === undefined)
        throw new Error(`take-tickets answered ${JSON.stringify(reply)}`);
      return { last: last ?? 0, nowServing: nowServing ?? 0, rate };
    },

    async read(sku: string, ticket?: TicketAdmission) {
      const reply = (await run.queueStatus(
        ...queueStatusArgs(keys, sku, turnMs, ticket),
      )) as number[];
      if (reply[0] === scriptStatus.SALE_NOT_FOUND) return undefined;
      if (reply[0] !== scriptStatus.QUEUE || reply.length !== 11)
        throw new Error(`queue-status answered ${JSON.stringify(reply)}`);
      const [
        ,
        nowMs,
        serving,
        issued,
        unitsLeft,
        startsAtMs,
        endsAtMs,
        paused,
        rate,
        used,
        turnEndsMs,
      ] = reply as [
        number,
        number,
        number,
        number,
        number,
        number,
        number,
        number,
        number,
        number,
        number,
      ];
      return {
        queue: {
          nowMs,
          serving,
          issued,
          unitsLeft,
          startsAtMs,
          endsAtMs,
          paused: paused === 1,
          rate,
        },
        used: used === 1,
        turnEndsMs,
      };
    },
  };
}
