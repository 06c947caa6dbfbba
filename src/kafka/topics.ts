/**
 * Every Kafka topic name, and nowhere else (proto/fluxgate/v1/events.proto documents them for
 * consumers; a test keeps the two in step).
 */
import type { Admin } from 'kafkajs';
import type { Logger } from 'pino';

/** The topics of one environment (`prefix` isolates tests and environments). */
export interface Topics {
  /** OrderAccepted events, keyed by sku: one sale's orders on one partition, in order. */
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

/**
 * Partitions of the order-status and dead-letter topics when created. Nothing in Flux-Gate
 * consumes them in a group, so their count limits no worker; the order topic's is configured
 * (`FLUXGATE_ORDER_TOPIC_PARTITIONS`).
 */
const otherTopicPartitions = 3;

/** How long {@link ensureTopics} waits for every partition of the topics to have a leader. */
const topicsReadyMs = 15_000;

/**
 * Creates any missing topic (idempotent), the order topic with `orderPartitions` partitions,
 * and resolves once every partition of the three has a leader in the metadata this client
 * sees. (Another process may be creating the topics at the same moment: its creation is not
 * finished when ours finds them there, and a consumer subscribing then fails with
 * UNKNOWN_TOPIC_OR_PARTITION.)
 * An existing order topic keeps its partitions: adding some would move sales to other
 * partitions while their earlier orders are still unread (see docs/order-path.md, "Partitions
 * and workers"), so that is an operator's step. A difference is told to `logger`.
 */
export async function ensureTopics(
  admin: Admin,
  topics: Topics,
  orderPartitions: number,
  logger?: Pick<Logger, 'warn'>,
): Promise<void> {
  const all = [topics.orders, topics.orderStatus, topics.deadLetter];
  const existing = new Set(await admin.listTopics());
  const missing = all.filter((t) => !existing.has(t));
  if (missing.length > 0) {
    await admin.createTopics({
      waitForLeaders: true,
      topics: missing.map((topic) => ({
        topic,
        numPartitions: topic === topics.orders ? orderPartitions : otherTopicPartitions,
        replicationFactor: -1,
      })),
    });
  }
  const metadata = await topicsWithLeaders(admin, all);
  const partitions = metadata.find((m) => m.name === topics.orders)?.partitions.length;
  if (existing.has(topics.orders) && partitions !== orderPartitions)
    logger?.warn(
      { topic: topics.orders, partitions, configured: orderPartitions },
      'the order topic exists with another partition count than FLUXGATE_ORDER_TOPIC_PARTITIONS; it keeps its own',
    );
}

/** The topics' metadata once every partition of each has a leader (polled; throws after a while). */
async function topicsWithLeaders(admin: Admin, names: readonly string[]) {
  const deadline = Date.now() + topicsReadyMs;
  for (;;) {
    const metadata = await admin
      .fetchTopicMetadata({ topics: [...names] })
      .then((m) => m.topics)
      .catch((error: unknown) => {
        // Not yet known to the broker that answered: another creator is still at it.
        if ((error as { type?: string }).type === 'UNKNOWN_TOPIC_OR_PARTITION') return [];
        throw error;
      });
    const whole = names.every((name) => {
      const partitions = metadata.find((m) => m.name === name)?.partitions ?? [];
      return partitions.length > 0 && partitions.every((p) => p.leader >= 0);
    });
    if (whole) return metadata;
    if (Date.now() > deadline)
      throw new Error(
        `topics ${names.join(', ')}: no leader for every partition after ${String(topicsReadyMs)} ms`,
      );
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Readiness: resolves when the broker answers a metadata request for `topic` (the order topic:
 * what the process cannot work without). Not `admin.describeCluster()`, which kafkajs sends with
 * an empty topic list, encoded as null, "every topic": on a broker with 2,000 topics that is a
 * 270 KB answer, 14 ms of this process's CPU and 31 ms of the broker's, every probe.
 */
export async function probeBroker(admin: Admin, topic: string): Promise<void> {
  await admin.fetchTopicMetadata({ topics: [topic] });
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
