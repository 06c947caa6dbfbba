/**
 * A lock shared by the gate processes through Redis, for work one gate should do while the
 * others skip it (a reload). It lapses by itself, so a holder that dies never blocks the rest.
 */
import { randomUUID } from 'node:crypto';
import type { RedisClient } from './client.js';

/**
 * Takes `key` for `ms`; resolves its release function, or undefined when another process holds
 * it. The work it guards must stay safe if two holders ever overlap (a lock that lapsed while
 * its holder was slow): this lock saves effort, it does not make anything correct.
 */
export async function takeLock(
  redis: RedisClient,
  key: string,
  ms: number,
): Promise<(() => Promise<void>) | undefined> {
  const token = randomUUID();
  if ((await redis.set(key, token, 'PX', ms, 'NX')) !== 'OK') return undefined;
  return async () => {
    if ((await redis.get(key)) === token) await redis.del(key);
  };
}
