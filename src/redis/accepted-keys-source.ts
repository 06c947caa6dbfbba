/** The Redis implementation of {@link AcceptedKeySource}: the sale's accepted-keys set. */
import type { AcceptedKeySource } from '../admission/accepted-keys.js';
import type { RedisClient } from './client.js';
import { acceptedKeysComplete, type Keys } from './keys.js';

/** Creates the source. */
export function createRedisAcceptedKeySource(redis: RedisClient, keys: Keys): AcceptedKeySource {
  return {
    count: (sku) => redis.scard(keys.acceptedKeys(sku)),
    async members(sku) {
      const members = await redis.smembers(keys.acceptedKeys(sku));
      return members.includes(acceptedKeysComplete)
        ? members.filter((m) => m !== acceptedKeysComplete)
        : undefined;
    },
    async reportRefusals(sku, refused) {
      await redis.hincrby(keys.stats(sku), 'sold_out', refused);
    },
  };
}
