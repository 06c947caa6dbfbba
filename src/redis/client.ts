/**
 * The one place a Redis connection is made: one server, or a Redis Cluster through ioredis's
 * Cluster client, chosen by configuration. Every store takes a {@link RedisClient} and works on
 * both, because every command it sends names keys of one slot (keys.ts puts a sale's keys under
 * one hash tag; the global index and the order records are written by commands of their own).
 */
import { Cluster, Redis, type RedisOptions } from 'ioredis';

/** A connection to one Redis server or to a Redis Cluster. */
export type RedisClient = Redis | Cluster;

/** Where Redis is: `redisUrl` may list several nodes of one cluster, comma-separated. */
export interface RedisTarget {
  readonly redisUrl: string;
  /** A Redis Cluster even when `redisUrl` names one node (the others are discovered). */
  readonly redisCluster: boolean;
}

/** Options for either kind of client; a cluster passes them to every node's connection. */
export type ClientOptions = RedisOptions & { readonly enableAutoPipelining?: boolean };

/** The node URLs `redisUrl` lists. */
export function redisUrls(redisUrl: string): string[] {
  return redisUrl
    .split(',')
    .map((u) => u.trim())
    .filter((u) => u.length > 0);
}

/** True when `target` names a Redis Cluster. */
export function isCluster(target: RedisTarget): boolean {
  return target.redisCluster || redisUrls(target.redisUrl).length > 1;
}

/** Connects to `target`. */
export function connectRedis(target: RedisTarget, options: ClientOptions = {}): RedisClient {
  const urls = redisUrls(target.redisUrl);
  if (!isCluster(target)) return new Redis(urls[0] ?? '', options);
  const { enableOfflineQueue, enableAutoPipelining, ...nodeOptions } = options;
  const first = new URL(urls[0] ?? '');
  return new Cluster(
    urls.map((u) => {
      const url = new URL(u);
      return { host: url.hostname, port: Number(url.port || 6379) };
    }),
    {
      ...(enableOfflineQueue === undefined ? {} : { enableOfflineQueue }),
      ...(enableAutoPipelining === undefined ? {} : { enableAutoPipelining }),
      // A failover moves slots. ioredis follows a MOVED reply and then reloads the slot map,
      // but an autopipeline whose commands are redirected for different slots gets the replies
      // as errors and reloads nothing, so without a periodic reload (off by default) a client
      // kept sending one shard's commands to the demoted master for good. Reloaded every second,
      // a failover costs the calls of about a second after the promotion.
      slotsRefreshInterval: 1000,
      retryDelayOnFailover: 50,
      retryDelayOnClusterDown: 50,
      redisOptions: {
        ...nodeOptions,
        ...(first.username ? { username: decodeURIComponent(first.username) } : {}),
        ...(first.password ? { password: decodeURIComponent(first.password) } : {}),
      },
    },
  );
}

/** A second connection to the same target with `overrides` (a subscriber, say). */
export function duplicateRedis(client: RedisClient, overrides: ClientOptions = {}): RedisClient {
  if (client instanceof Cluster) {
    const { enableOfflineQueue, ...nodeOptions } = overrides;
    return client.duplicate([], {
      ...(enableOfflineQueue === undefined ? {} : { enableOfflineQueue }),
      redisOptions: nodeOptions,
    });
  }
  return client.duplicate(overrides);
}

/** Every master node's connection: one server is its own only master. */
export function masters(client: RedisClient): Redis[] {
  return client instanceof Cluster ? client.nodes('master') : [client];
}
