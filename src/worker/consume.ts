/**
 * The worker's consumer loop: batches from the order topic, protobuf decode, transactions of up
 * to `transactionSize` orders (each retried with backoff while the database is down, never
 * skipped), each followed by its status notifications, then the dead letters, and the offsets
 * committed last.
 *
 * Notifications are derived from what is committed, and bound to the offsets: a batch's
 * notifications cover the orders it recorded and the orders it found already recorded (with
 * their stored status), they are retried until they succeed, and the offsets are committed
 * only after them. A batch given up at any point (the worker stopping, rebalanced away, frozen
 * past its group session) is redelivered, its orders are then duplicates, and their stored
 * statuses are announced again: no window between a commit and its notification can lose one.
 * The alternative, a lookup that asks the database whenever the live record has said PENDING
 * for a few seconds, would put a database read on every GetOrder and every WatchOrder poll of a
 * waiting order exactly when the worker is behind and the database busiest.
 */
import { writeSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { ROOT_CONTEXT, SpanKind, trace, type Span } from '@opentelemetry/api';
import {
  ATTR_DB_SYSTEM_NAME,
  DB_SYSTEM_NAME_VALUE_POSTGRESQL,
} from '@opentelemetry/semantic-conventions';
import {
  ATTR_MESSAGING_BATCH_MESSAGE_COUNT,
  ATTR_MESSAGING_DESTINATION_NAME,
  ATTR_MESSAGING_DESTINATION_PARTITION_ID,
  ATTR_MESSAGING_KAFKA_OFFSET,
  ATTR_MESSAGING_OPERATION_TYPE,
  ATTR_MESSAGING_SYSTEM,
  MESSAGING_OPERATION_TYPE_VALUE_PROCESS,
  MESSAGING_SYSTEM_VALUE_KAFKA,
} from '@opentelemetry/semantic-conventions/incubating';
import type { Batch, Consumer, EachBatchPayload, KafkaMessage, Producer } from 'kafkajs';
import type { Logger } from 'pino';
import {
  decidedView,
  type BatchResult,
  type Decision,
  type IncomingOrder,
  type OrderBatchStore,
} from '../domain/order-batch.js';
import { statusChangeOf, type WorkerNotifier } from '../domain/order-events.js';
import type { AcceptedOrder } from '../domain/order.js';
import {
  decodeOrderAccepted,
  encodeDeadLetter,
  encodeOrderStatusChanged,
  requestIdOf,
  traceContextOf,
} from '../kafka/codec.js';
import type { Topics } from '../kafka/topics.js';
import { endingSpans, tracer } from '../tracing.js';

/** What the consumer loop needs. */
export interface ConsumeDeps {
  readonly consumer: Consumer;
  readonly producer: Producer;
  readonly orders: OrderBatchStore;
  readonly topics: Topics;
  readonly notifier: WorkerNotifier;
  readonly logger: Logger;
  /** Backoff between attempts while a step fails: first and largest delay, ms. */
  readonly retryInitialMs: number;
  readonly retryMaxMs: number;
  /** Most orders one transaction records; a larger batch takes several, one after the other. */
  readonly transactionSize: number;
  /** Told what each batch did (metrics). */
  readonly observer?: ConsumeObserver;
  /**
   * Test only, off unless set (`FLUXGATE_FAILPOINT`): `after-commit-before-offsets` kills the
   * process with SIGKILL right after a batch's transaction commits, before its notifications
   * and offsets, so a fault test can prove the redelivered batch is recorded once (I4).
   */
  readonly failpoint?: '' | 'after-commit-before-offsets';
}

/** Why a record went to the dead-letter topic. */
export type DeadLetterReason = 'undecodable' | 'key_conflict' | 'unknown_sku';

/** What the loop reports as it goes. */
export interface ConsumeObserver {
  /** A transaction persisted `size` records; it took `seconds` (retries included). */
  batchPersisted(size: number, seconds: number, statuses: readonly Decision['status'][]): void;
  /** A record was dead-lettered. */
  deadLettered(reason: DeadLetterReason): void;
}

interface Poison {
  readonly message: KafkaMessage;
  readonly reason: DeadLetterReason;
  readonly error: string;
  readonly sku?: string;
  readonly requestId: string;
}

/**
 * The request id of a record: its `request-id` header, which even a record that does not
 * decode carries, else the decoded event's own field; empty when neither has one.
 */
function requestIdFor(message: KafkaMessage | undefined, order?: AcceptedOrder): string {
  return requestIdOf(message?.headers) || order?.requestId || '';
}

/**
 * The span of each record that carries a trace context (docs/tracing.md), by offset: the child
 * of the record's publish span in the gate, from the batch's arrival to its offset commit.
 * Records without one (tracing off at the gate or here, or re-published by the outbox relay)
 * get none.
 */
function startRecordSpans(batch: Batch): Map<string, Span> {
  const spans = new Map<string, Span>();
  for (const message of batch.messages) {
    const parent = traceContextOf(message.headers);
    if (trace.getSpanContext(parent) === undefined) continue;
    spans.set(
      message.offset,
      tracer.startSpan(
        `${batch.topic} process`,
        {
          kind: SpanKind.CONSUMER,
          attributes: {
            [ATTR_MESSAGING_SYSTEM]: MESSAGING_SYSTEM_VALUE_KAFKA,
            [ATTR_MESSAGING_DESTINATION_NAME]: batch.topic,
            [ATTR_MESSAGING_OPERATION_TYPE]: MESSAGING_OPERATION_TYPE_VALUE_PROCESS,
            [ATTR_MESSAGING_DESTINATION_PARTITION_ID]: String(batch.partition),
            [ATTR_MESSAGING_KAFKA_OFFSET]: Number(message.offset),
            [ATTR_MESSAGING_BATCH_MESSAGE_COUNT]: batch.messages.length,
          },
        },
        parent,
      ),
    );
  }
  return spans;
}

/**
 * Runs `transaction` (the database transaction of `chunk`) under a span in each traced order's
 * trace: one transaction of many orders appears, with the same times, in each of their traces,
 * so that every order's trace is whole (docs/tracing.md).
 */
async function inTransactionSpans<T>(
  spans: ReadonlyMap<string, Span>,
  chunk: readonly IncomingOrder[],
  transaction: () => Promise<T>,
): Promise<T> {
  const parents = chunk.flatMap((incoming) => spans.get(incoming.offset) ?? []);
  if (parents.length === 0) return transaction();
  const started = performance.timeOrigin + performance.now();
  const attributes = {
    [ATTR_DB_SYSTEM_NAME]: DB_SYSTEM_NAME_VALUE_POSTGRESQL,
    // Ours: how many orders share this transaction (and so this span's times).
    'fluxgate.transaction.orders': chunk.length,
  };
  const children = parents.map((parent) =>
    tracer.startSpan(
      'order batch transaction',
      { attributes, startTime: started },
      trace.setSpan(ROOT_CONTEXT, parent),
    ),
  );
  return endingSpans(children, transaction);
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
    const spans = startRecordSpans(payload.batch);
    if (spans.size === 0) return processBatch(payload, spans);
    return endingSpans([...spans.values()], () => processBatch(payload, spans));
  }

  async function processBatch(
    payload: EachBatchPayload,
    spans: ReadonlyMap<string, Span>,
  ): Promise<void> {
    const { batch } = payload;
    const byOffset = new Map(batch.messages.map((m) => [m.offset, m]));
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
          requestId: requestIdFor(message),
        });
      }
    }

    const reqIdOf = (incoming: IncomingOrder) =>
      requestIdFor(byOffset.get(incoming.offset), incoming.order);

    /** The announcements of one committed transaction, in the order the header gives. */
    async function announce(result: BatchResult): Promise<void> {
      // The live records first, since GetOrder and WatchOrder read them.
      const views = [...result.decided.map(decidedView), ...result.duplicates];
      if (views.length > 0) {
        await persistently('status notification', payload, () =>
          deps.notifier.statusChanged(views),
        );
        await persistently('status events publish', payload, () =>
          producer.send({
            topic: topics.orderStatus,
            acks: -1,
            messages: views.map((view) => ({
              key: view.order.orderId,
              value: Buffer.from(encodeOrderStatusChanged(statusChangeOf(view))),
            })),
          }),
        );
      }
      for (const d of result.decided) {
        logger.info(
          {
            orderId: d.incoming.order.orderId,
            reqId: reqIdOf(d.incoming), // the gate logs the same id under this name
            sku: d.incoming.order.sku,
            status: d.status,
            rejectReason: d.rejectReason ?? undefined,
          },
          'order persisted',
        );
      }
      for (const view of result.duplicates) {
        logger.info(
          {
            orderId: view.order.orderId,
            reqId: view.order.requestId,
            sku: view.order.sku,
            status: view.status,
          },
          'order already recorded; its status announced again',
        );
      }
    }

    // The batch's orders are recorded in transactions of up to transactionSize orders, one
    // after the other; each transaction's announcements start once it commits and run while
    // the next transaction does (the database and Redis/Kafka work at the same time), each
    // after the previous one's. From the first commit to the offset commit, every step either
    // succeeds or gives the whole batch up: see the header.
    const results: BatchResult[] = [];
    let announced: Promise<void> = Promise.resolve();
    const announcing = { failed: false };
    for (let from = 0; from === 0 || from < good.length; from += deps.transactionSize) {
      if (announcing.failed) break; // the batch is given up: see the header
      const chunk = good.slice(from, from + deps.transactionSize);
      const started = performance.now();
      const result = await inTransactionSpans(spans, chunk, () =>
        persistently('order batch transaction', payload, () => deps.orders.record(chunk)),
      );
      if (deps.failpoint === 'after-commit-before-offsets' && chunk.length > 0) {
        // Written synchronously, not through pino: its asynchronous write would lose the race
        // with the SIGKILL (pino's flush does not wait for a write already under way).
        const msg = 'failpoint after-commit-before-offsets: SIGKILL';
        writeSync(
          1,
          `${JSON.stringify({ level: 40, service: 'worker', orders: chunk.length, msg })}\n`,
        );
        process.kill(process.pid, 'SIGKILL');
      }
      deps.observer?.batchPersisted(
        chunk.length,
        (performance.now() - started) / 1000,
        result.decided.map((d) => d.status),
      );
      results.push(result);
      announced = announced.then(() => announce(result));
      // Awaited after the loop; until then a failure only stops the loop early (not unhandled).
      announced.catch(() => (announcing.failed = true));
    }
    await announced;
    // A large batch can take a while: tell the group coordinator this member is alive. Safe
    // here, after the notifications: if the batch is no longer ours, its redelivery notifies.
    await payload.heartbeat();

    // Recorded but not processable as an order: dead-letter them too (one lookup per record).
    const unprocessable = [
      ...results
        .flatMap((r) => r.keyConflicts)
        .map((incoming) => ({
          incoming,
          reason: 'key_conflict' as const,
          error: 'idempotency key already used by another order of this sale',
        })),
      ...results
        .flatMap((r) => r.decided)
        .filter((d) => d.rejectReason === 'UNKNOWN_PRODUCT')
        .map((d) => ({
          incoming: d.incoming,
          reason: 'unknown_sku' as const,
          error: `unknown sku ${d.incoming.order.sku}; order recorded REJECTED`,
        })),
    ];
    for (const { incoming, reason, error } of unprocessable) {
      const message = byOffset.get(incoming.offset);
      if (message)
        poison.push({
          message,
          reason,
          error,
          sku: incoming.order.sku,
          requestId: reqIdOf(incoming),
        });
    }

    if (poison.length > 0) {
      const deadLetteredAtMs = Date.now();
      await persistently('dead-letter publish', payload, () =>
        producer.send({
          topic: topics.deadLetter,
          acks: -1,
          messages: poison.map((p) => ({
            key: p.message.key,
            value: Buffer.from(
              encodeDeadLetter({
                sourceTopic: batch.topic,
                sourcePartition: batch.partition,
                sourceOffset: p.message.offset,
                key: p.message.key ?? new Uint8Array(),
                value: p.message.value ?? new Uint8Array(),
                error: p.error,
                requestId: p.requestId,
                deadLetteredAtMs,
              }),
            ),
          })),
        }),
      );
      for (const p of poison) {
        deps.observer?.deadLettered(p.reason);
        logger.warn(
          {
            partition: batch.partition,
            offset: p.message.offset,
            reqId: p.requestId || undefined,
            error: p.error,
          },
          'dead-lettered',
        );
        // A counter for operators: a lost increment is logged, not worth holding the batch.
        await deps.notifier
          .deadLettered(p.sku)
          .catch((error: unknown) => logger.warn({ err: error }, 'dead-letter count'));
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
