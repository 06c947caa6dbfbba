/** The Redis implementation of {@link LeaseSource}: one lease-tokens.lua call per lease. */
import type { RedisClient } from './client.js';
import type { LeaseSource } from '../admission/edge-admission.js';
import { scriptStatus } from './codes.js';
import type { Keys } from './keys.js';
import { leaseTokensArgs, timedScripts, type ScriptName } from './scripts.js';

/** lease-tokens.lua's reply to a sale it has (see the script's header). */
type LeaseReply = [
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
  number,
];

/**
 * Creates the source on a client on which {@link registerScripts} was called; each call is
 * timed and told to `onScript`.
 */
export function createRedisLeaseSource(
  redis: RedisClient,
  keys: Keys,
  onScript: (script: ScriptName, seconds: number) => void = () => undefined,
): LeaseSource {
  const run = timedScripts(redis, onScript);
  return {
    async lease(sku, wanted, refused) {
      const reply = (await run.leaseTokens(
        ...leaseTokensArgs(keys, sku, wanted, refused),
      )) as number[];
      if (reply[0] === scriptStatus.SALE_NOT_FOUND) return undefined;
      if (reply[0] !== scriptStatus.LEASED || reply.length !== 12)
        throw new Error(`lease-tokens answered ${JSON.stringify(reply)}`);
      const [
        ,
        granted,
        waitMs,
        nowMs,
        startsAtMs,
        endsAtMs,
        paused,
        rate,
        burst,
        nowServing,
        ,
        lottery,
      ] = reply as LeaseReply;
      return {
        granted,
        waitMs,
        nowMs,
        startsAtMs,
        endsAtMs,
        paused: paused === 1,
        rate,
        burst,
        nowServing,
        lottery: lottery === 1,
      };
    },
  };
}
