/**
 * The worker's consumer loop: batches from the order topic, protobuf decode, one transaction
 * per batch (retried with backoff while the database is down, never skipped), dead letters for
 * what cannot be processed, status changes published, offsets committed last.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { create, toBinary } from '@bufbuild/protobuf';
import { timestampFromDate, timestampNow } from '@bufbuild/protobuf/wkt';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Consumer, EachBatchPayload, KafkaMessage, Producer } from 'kafkajs';
import type { Logger } from 'pino';
import { DeadLetterSchema, OrderStatusChangedSchema } from '../../gen/fluxgate/v1/events_pb.js';
import { OrderStatus, RejectReason } from '../../gen/fluxgate/v1/order_pb.js';
import { decodeOrderAccepted } from '../kafka/codec.js';
import type { Topics } from '../kafka/topics.js';
import type { OrderView } from '../domain/order-view.js';
import { persistBatch, type Decision, type IncomingOrder } from './persist-batch.js';

/** A committed final status, and its OrderStatusChanged event. */
export interface StatusChange {
  readonly view: OrderView;
  readonly payload: Uint8Array;
}

/** Tells the rest of the system about what the worker did (Redis pub/sub and counters). */
export interface WorkerNotifier {
  /** Orders reached a final status (committed). */
  statusChanged(changes: readonly StatusChange[]): Promise<void>;
  /** A record of `sku` (when known) went to the dead-letter topic. */
  deadLettered(sku: string | undefined): Promise<void>;
}

/** What the consumer loop needs. */
export interface ConsumeDeps {
  readonly consumer: Consumer;
  readonly producer: Producer;
  readonly em: EntityManager;
  readonly topics: Topics;
  readonly notifier: WorkerNotifier;
  readonly logger: Logger;
  /** Backoff between attempts while the database fails: first and largest delay, ms. */
  readonly retryInitialMs: number;
  readonly retryMaxMs: number;
  /** Told what each batch did (metrics). */
  readonly observer?: ConsumeObserver;
}

/** Why a record went to the dead-letter topic. */
export type DeadLetterReason = 'undecodable' | 'key_conflict' | 'unknown_sku';

/** What the loop reports as it goes. */
export interface ConsumeObserver {
  /** A batch of `size` records was persisted; its transaction took `seconds` (retries included). */
  batchPersisted(size: number, seconds: number, statuses: readonly Decision['status'][]): void;
  /** A record was dead-lettered. */
  deadLettered(reason: DeadLetterReason): void;
}

interface Poison {
  readonly message: KafkaMessage;
  readonly reason: DeadLetterReason;
  readonly error: string;
  readonly sku?: string;
}

const statusOf = { CONFIRMED: OrderStatus.CONFIRMED, REJECTED: OrderStatus.REJECTED } as const;
const reasonOf = {
  INSUFFICIENT_STOCK: RejectReason.INSUFFICIENT_STOCK,
  UNKNOWN_PRODUCT: RejectReason.UNKNOWN_PRODUCT,
} as const;

function statusEvent(d: Decision): Uint8Array {
  return toBinary(
    OrderStatusChangedSchema,
    create(OrderStatusChangedSchema, {
      orderId: d.incoming.order.orderId,
      sku: d.incoming.order.sku,
      status: statusOf[d.status],
      rejectReason: d.rejectReason === null ? RejectReason.UNSPECIFIED : reasonOf[d.rejectReason],
      quantity: d.incoming.order.quantity,
      changedAt: timestampFromDate(d.finalizedAt),
    }),
  );
}

/** Subscribes and runs the loop until the consumer is stopped or disconnected. */
export async function consumeOrders(deps: ConsumeDeps): Promise<void> {
  const { consumer, producer, topics, logger } = deps;

  /** Retries `work` with backoff until it succeeds or the batch is no longer ours. */
  async function persistently<T>(
    what: string,
    payload: EachBatchPayload,
    work: () => Promise<T>,
  ): Promise<T> {
    for (
      let attempt = 1, delay = deps.retryInitialMs;
      ;
      attempt++, delay = Math.min(delay * 2, deps.retryMaxMs)
    ) {
      try {
        return await work();
      } catch (error) {
        // Stopping or rebalanced away: give up without committing; the batch is redelivered.
        if (!payload.isRunning() || payload.isStale()) throw error;
        logger.warn({ err: error, attempt, retryInMs: delay }, `${what} failed; retrying`);
        await sleep(delay);
        await payload.heartbeat();
      }
    }
  }

  async function handleBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    const good: IncomingOrder[] = [];
    const poison: Poison[] = [];
    for (const message of batch.messages) {
      try {
        if (!message.value) throw new Error('empty record');
        good.push({
          order: decodeOrderAccepted(message.value),
          partition: batch.partition,
          offset: message.offset,
        });
      } catch (error) {
        poison.push({
          message,
          reason: 'undecodable',
          error: `undecodable or invalid OrderAccepted: ${(error as Error).message}`,
          sku: message.key?.toString(),
        });
      }
    }

    const started = performance.now();
    const result = await persistently('order batch transaction', payload, () =>
      persistBatch(deps.em, good),
    );
    deps.observer?.batchPersisted(
      good.length,
      (performance.now() - started) / 1000,
      result.decided.map((d) => d.status),
    );
    // A large batch can take a while: tell the group coordinator this member is alive.
    await payload.heartbeat();
    // Recorded but not processable as an order: dead-letter them too (one lookup per record).
    const byOffset = new Map(batch.messages.map((m) => [m.offset, m]));
    const unprocessable = [
      ...result.keyConflicts.map((incoming) => ({
        incoming,
        reason: 'key_conflict' as const,
        error: 'idempotency key already used by another order of this sale',
      })),
      ...result.decided
        .filter((d) => d.rejectReason === 'UNKNOWN_PRODUCT')
        .map((d) => ({
          incoming: d.incoming,
          reason: 'unknown_sku' as const,
          error: `unknown sku ${d.incoming.order.sku}; order recorded REJECTED`,
        })),
    ];
    for (const { incoming, reason, error } of unprocessable) {
      const message = byOffset.get(incoming.offset);
      if (message) poison.push({ message, reason, error, sku: incoming.order.sku });
    }

    if (poison.length > 0) {
      await persistently('dead-letter publish', payload, () =>
        producer.send({
          topic: topics.deadLetter,
          acks: -1,
          messages: poison.map((p) => ({
            key: p.message.key,
            value: Buffer.from(
              toBinary(
                DeadLetterSchema,
                create(DeadLetterSchema, {
                  sourceTopic: batch.topic,
                  sourcePartition: batch.partition,
                  sourceOffset: BigInt(p.message.offset),
                  key: p.message.key ?? new Uint8Array(),
                  value: p.message.value ?? new Uint8Array(),
                  error: p.error,
                  deadLetteredAt: timestampNow(),
                }),
              ),
            ),
          })),
        }),
      );
      for (const p of poison) {
        deps.observer?.deadLettered(p.reason);
        logger.warn(
          { partition: batch.partition, offset: p.message.offset, error: p.error },
          'dead-lettered',
        );
        await deps.notifier
          .deadLettered(p.sku)
          .catch((error: unknown) => logger.warn({ err: error }, 'dead-letter count'));
      }
    }

    if (result.decided.length > 0) {
      const changes: StatusChange[] = result.decided.map((d) => ({
        view: {
          order: d.incoming.order,
          status: d.status,
          rejectReason: d.rejectReason,
          finalizedAtMs: d.finalizedAt.getTime(),
        },
        payload: statusEvent(d),
      }));
      // Status events are for watchers; the database already holds the truth, so a failure
      // here is logged and does not hold the partition back.
      await producer
        .send({
          topic: topics.orderStatus,
          messages: changes.map((c) => ({
            key: c.view.order.orderId,
            value: Buffer.from(c.payload),
          })),
        })
        .catch((error: unknown) => logger.warn({ err: error }, 'status events not published'));
      await deps.notifier
        .statusChanged(changes)
        .catch((error: unknown) => logger.warn({ err: error }, 'status notification'));
      for (const d of result.decided) {
        logger.info(
          {
            orderId: d.incoming.order.orderId,
            reqId: d.incoming.order.requestId, // the gate logs the same id under this name
            sku: d.incoming.order.sku,
            status: d.status,
            rejectReason: d.rejectReason ?? undefined,
          },
          'order persisted',
        );
      }
    }

    // Commit explicitly: without autoCommit, the argument-less commitOffsetsIfNecessary() has
    // no interval or threshold to meet and never commits.
    const last = batch.messages.at(-1);
    if (last) {
      payload.resolveOffset(last.offset);
      const next = (BigInt(last.offset) + 1n).toString();
      await payload.commitOffsetsIfNecessary({
        topics: [
          { topic: batch.topic, partitions: [{ partition: batch.partition, offset: next }] },
        ],
      });
    }
  }

  await consumer.subscribe({ topic: topics.orders, fromBeginning: true });
  await consumer.run({ autoCommit: false, eachBatchAutoResolve: false, eachBatch: handleBatch });
}
