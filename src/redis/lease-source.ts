/** The Redis implementation of {@link LeaseSource}: one lease-tokens.lua call per lease. */
import type { RedisClient } from './client.js';
import type { LeaseSource } from '../admission/edge-admission.js';
import { replyNumbers, scriptStatus } from './codes.js';
import type { Keys } from './keys.js';
import { leaseTokensArgs, timedScripts, type ScriptName } from './scripts.js';

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
      const n = replyNumbers(reply);
      return {
        granted: n(1),
        waitMs: n(2),
        nowMs: n(3),
        startsAtMs: n(4),
        endsAtMs: n(5),
        paused: n(6) === 1,
        rate: n(7),
        burst: n(8),
        nowServing: n(9),
        lottery: n(11) === 1,
      };
    },
  };
}
