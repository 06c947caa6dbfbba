/**
 * Redis replicates asynchronously: a master that dies may take its last writes with it, and the
 * replica promoted in its place never saw them. For an accepted order that would be a unit sold
 * twice (the stock decrement is gone) and an order lost (its outbox entry is gone). So, when
 * `FLUXGATE_REDIS_WAIT_REPLICAS` asks for it, nothing says "accepted" (the answer, a replayed
 * answer, the publish to Kafka, the outbox relay) until that many replicas hold the order.
 *
 * One barrier serves every order of a sale whose script finished before it started: it writes a
 * key of the sale's slot on a connection of its own, then WAITs. WAIT covers the calling
 * connection's own last write, and Redis runs commands one at a time, so that write's offset is
 * past every earlier write to the shard. The own connection keeps WAIT from holding up the
 * scripts behind it, and one barrier in flight per sale keeps its cost to two commands for as
 * many orders as arrive meanwhile.
 */
import type { RedisClient } from './client.js';
import type { Keys } from './keys.js';

/** The barrier's verdict was not enough replicas in time: the order's fate is unknown. */
export class NotReplicatedError extends Error {
  constructor(sku: string, acknowledged: number, wanted: number) {
    super(`sale ${sku}: ${acknowledged} of ${wanted} replicas acknowledged in time`);
    this.name = 'NotReplicatedError';
  }
}

/** Waits until replicas hold every write made to a sale's shard so far. */
export interface ReplicationBarrier {
  /** Resolves once enough replicas hold what was written for `sku`; rejects otherwise. */
  replicated(sku: string): Promise<void>;
}

/** No replicas asked for: resolves at once. */
export const noBarrier: ReplicationBarrier = { replicated: () => Promise.resolve() };

/**
 * A barrier on `connection` (a connection of its own, not the scripts'): `replicas` must
 * acknowledge within `timeoutMs`.
 */
export function createReplicationBarrier(
  connection: RedisClient,
  keys: Keys,
  replicas: number,
  timeoutMs: number,
): ReplicationBarrier {
  /** Per sale: the barrier in flight, and the one queued behind it (shared by its waiters). */
  const inFlight = new Map<string, Promise<void>>();
  const queued = new Map<string, Promise<void>>();

  const barrier = async (sku: string) => {
    // The write and the WAIT in one pipeline: it goes to the sale's master, in this order.
    const results = await connection
      .pipeline()
      .set(keys.replicaBarrier(sku), '1', 'PX', 60_000)
      .wait(replicas, timeoutMs)
      .exec();
    const failed = results?.find(([error]) => error !== null);
    if (failed) throw failed[0] as Error;
    const acknowledged = Number(results?.[1]?.[1] ?? 0);
    if (acknowledged < replicas) throw new NotReplicatedError(sku, acknowledged, replicas);
  };

  return {
    replicated(sku) {
      const waiting = queued.get(sku);
      if (waiting) return waiting;
      // Starts once the barrier in flight (begun before this write, so not covering it) ends.
      const next = (inFlight.get(sku) ?? Promise.resolve())
        .catch(() => undefined)
        .then(() => {
          queued.delete(sku);
          const running = barrier(sku).finally(() => {
            if (inFlight.get(sku) === running) inFlight.delete(sku);
          });
          inFlight.set(sku, running);
          return running;
        });
      queued.set(sku, next);
      return next;
    },
  };
}
