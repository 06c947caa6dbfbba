/**
 * Every Kafka topic name, and nowhere else (proto/fluxgate/v1/events.proto documents them for
 * consumers; a test keeps the two in step).
 */
import type { Admin } from 'kafkajs';

/** The topics of one environment (`prefix` isolates tests and environments). */
export interface Topics {
  /** OrderAccepted events, keyed by sku. */
  readonly orders: string;
  /** OrderStatusChanged events, keyed by order id. */
  readonly orderStatus: string;
  /** DeadLetter envelopes of events the worker could not process. */
  readonly deadLetter: string;
}

/** Topic names for `prefix`. */
export function createTopics(prefix: string): Topics {
  return {
    orders: `${prefix}fluxgate.orders.v1`,
    orderStatus: `${prefix}fluxgate.order-status.v1`,
    deadLetter: `${prefix}fluxgate.orders.dlq.v1`,
  };
}

/** Creates any missing topic (idempotent); `partitions` applies to new topics only. */
export async function ensureTopics(admin: Admin, topics: Topics, partitions = 3): Promise<void> {
  const existing = new Set(await admin.listTopics());
  const missing = [topics.orders, topics.orderStatus, topics.deadLetter].filter(
    (t) => !existing.has(t),
  );
  if (missing.length === 0) return;
  await admin.createTopics({
    waitForLeaders: true,
    topics: missing.map((topic) => ({ topic, numPartitions: partitions, replicationFactor: -1 })),
  });
}

/** Records of `topic` not yet committed by consumer group `groupId`, per partition. */
export async function consumerLagByPartition(
  admin: Admin,
  groupId: string,
  topic: string,
): Promise<{ partition: number; lag: number }[]> {
  const [ends, [committed]] = await Promise.all([
    admin.fetchTopicOffsets(topic),
    admin.fetchOffsets({ groupId, topics: [topic] }),
  ]);
  return ends.map((end) => {
    const at = Number(
      committed?.partitions.find((p) => p.partition === end.partition)?.offset ?? -1,
    );
    // -1: the group never committed on this partition, so everything from its start is unread.
    return { partition: end.partition, lag: Number(end.offset) - (at < 0 ? Number(end.low) : at) };
  });
}

/** Records of `topic` not yet committed by consumer group `groupId` (0 when it has consumed all). */
export async function consumerLag(admin: Admin, groupId: string, topic: string): Promise<number> {
  const partitions = await consumerLagByPartition(admin, groupId, topic);
  return partitions.reduce((sum, p) => sum + p.lag, 0);
}
