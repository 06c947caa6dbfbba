/**
 * The order publisher: gathers concurrent orders into one produce request, sends with an
 * idempotent producer and acks from all in-sync replicas, and says for each order whether the
 * broker acknowledged it, certainly did not write it, or may have.
 *
 * Gathering needs no linger: one request is in flight at a time, and the orders that come while
 * it is form the next one (up to a size bound), so batches grow with the load by themselves. An
 * order that finds no request in flight goes at the end of the event loop's turn, with the
 * others decided in it. An optional linger holds every batch longer, trading latency for fewer
 * requests.
 *
 * "Certainly not written" is claimed only when the producer could not connect: once a
 * request may have left, kafkajs's internal retries hide whether an attempt was written.
 *
 * A breaker watches the broker: after a failed produce request the publisher is unavailable
 * until its next probe, so that orders are not held waiting on a broker known to be down.
 */
import { SpanKind, SpanStatusCode, trace, type Span } from '@opentelemetry/api';
import {
  ATTR_MESSAGING_BATCH_MESSAGE_COUNT,
  ATTR_MESSAGING_DESTINATION_NAME,
  ATTR_MESSAGING_OPERATION_TYPE,
  ATTR_MESSAGING_SYSTEM,
  MESSAGING_OPERATION_TYPE_VALUE_SEND,
  MESSAGING_SYSTEM_VALUE_KAFKA,
} from '@opentelemetry/semantic-conventions/incubating';
import type { Producer } from 'kafkajs';
import type { AcceptedOrder } from '../domain/order.js';
import type { OrderPublisher, PublishOutcome } from '../domain/ports.js';
import { CircuitOpenError, type Breaker } from '../resilience/breaker.js';
import { withTimeLimit } from '../time-limit.js';
import { tracer } from '../tracing.js';
import { encodeOrderAccepted, requestIdHeader, traceContextHeaders } from './codec.js';

/** What the publisher needs. */
export interface KafkaPublisherOptions {
  /** Creates and connects a producer; called again after any failed or unknown send. */
  readonly connectProducer: () => Promise<Producer>;
  readonly topic: string;
  readonly lingerMs: number;
  readonly maxBatch: number;
  /** A send not settled by then has an unknown outcome. */
  readonly timeoutMs: number;
  /** Guards the broker: opened by failed produce requests. */
  readonly breaker: Breaker;
  readonly onError: (error: unknown, outcome: PublishOutcome) => void;
  /** Told of every produce request: how many orders, how long, how it ended (metrics). */
  readonly onSent?: (size: number, seconds: number, outcome: PublishOutcome) => void;
}

/** The publisher, with a way to stop it. */
export interface KafkaPublisher extends OrderPublisher {
  /** Sends what is queued, then disconnects the producer. */
  close(): Promise<void>;
}

/** A produce request that did not succeed, and what that means for its orders. */
class PublishError extends Error {
  constructor(
    readonly outcome: PublishOutcome,
    override readonly cause: unknown,
  ) {
    super(`publish ${outcome}`);
  }
}

interface Pending {
  readonly order: AcceptedOrder;
  readonly resolve: (outcome: PublishOutcome) => void;
  /** The record's headers: its request id, and its trace context when it has a span. */
  readonly headers: Record<string, string>;
  /** From the publish call to the outcome; only for an order published within a traced call. */
  readonly span: Span | undefined;
}

/** Ends an order's publish span with its produce request's size and outcome. */
function endSpan(span: Span, batchSize: number, outcome: PublishOutcome): void {
  span.setAttribute(ATTR_MESSAGING_BATCH_MESSAGE_COUNT, batchSize);
  if (outcome !== 'acked')
    span.setStatus({ code: SpanStatusCode.ERROR, message: `publish ${outcome}` });
  span.end();
}

/** Creates the publisher; the producer connects on first use. */
export function createKafkaPublisher(options: KafkaPublisherOptions): KafkaPublisher {
  let queue: Pending[] = [];
  let draining: Promise<void> | undefined;
  // The scheduled start of the next drain: the linger's timer, or the end of the turn.
  let timer: NodeJS.Timeout | undefined;
  let turnEnd: NodeJS.Immediate | undefined;
  let producer: Promise<Producer> | undefined;

  // After an error the producer's sequence numbers may disagree with the broker's; a new
  // producer id starts a fresh sequence, so a later batch can never be taken for a duplicate.
  function replaceProducer(): void {
    const old = producer;
    producer = undefined;
    void old?.then((p) => p.disconnect()).catch(() => undefined);
  }

  /** Connects if need be and sends one produce request; throws a {@link PublishError}. */
  async function produce(batch: Pending[]): Promise<void> {
    let connected: Producer;
    try {
      producer ??= options.connectProducer();
      connected = await withTimeLimit(producer, options.timeoutMs, 'connecting the producer');
    } catch (error) {
      // A producer that never connected sent nothing: the failure is certain.
      replaceProducer();
      throw new PublishError('failed', error);
    }
    try {
      const sent = connected.send({
        topic: options.topic,
        acks: -1,
        messages: batch.map(({ order, headers }) => ({
          key: order.sku,
          value: Buffer.from(encodeOrderAccepted(order)),
          headers,
        })),
      });
      sent.catch(() => undefined);
      await withTimeLimit(sent, options.timeoutMs, 'the produce request');
    } catch (error) {
      // The producer retries internally, so an error cannot tell whether an earlier attempt
      // was written: the outcome is unknown and the outbox relay takes over.
      replaceProducer();
      throw new PublishError('unknown', error);
    }
  }

  async function send(batch: Pending[]): Promise<void> {
    const started = performance.now();
    let outcome: PublishOutcome = 'acked';
    try {
      await options.breaker.run(() => produce(batch));
    } catch (error) {
      // An open circuit sent nothing; the orders wait in the outbox for the relay.
      if (error instanceof PublishError) {
        outcome = error.outcome;
        options.onError(error.cause, outcome);
      } else {
        outcome = 'failed';
        if (!(error instanceof CircuitOpenError)) options.onError(error, outcome);
      }
    }
    options.onSent?.(batch.length, (performance.now() - started) / 1000, outcome);
    for (const p of batch) {
      if (p.span !== undefined) endSpan(p.span, batch.length, outcome);
      p.resolve(outcome);
    }
  }

  async function drain(): Promise<void> {
    while (queue.length > 0) {
      const batch = queue.slice(0, options.maxBatch);
      queue = queue.slice(batch.length);
      await send(batch);
    }
    draining = undefined;
  }

  /** Starts a drain now; a start still scheduled is dropped. */
  function startDrain(): void {
    clearTimeout(timer);
    clearImmediate(turnEnd);
    timer = undefined;
    turnEnd = undefined;
    draining ??= drain();
  }

  function schedule(): void {
    if (draining) return; // the running drain picks the new orders up
    if (queue.length >= options.maxBatch) startDrain();
    // No linger: at the end of this turn of the event loop, so that the orders decided in it
    // (one Redis read answers several) go in one request.
    else if (options.lingerMs === 0) turnEnd ??= setImmediate(startDrain);
    else timer ??= setTimeout(startDrain, options.lingerMs);
  }

  return {
    available: () => !options.breaker.isOpen(),
    publish(order) {
      // The span starts here, in the caller's context: the record waits for its batch under it.
      const span =
        trace.getActiveSpan() === undefined
          ? undefined
          : tracer.startSpan(`${options.topic} publish`, {
              kind: SpanKind.PRODUCER,
              attributes: {
                [ATTR_MESSAGING_SYSTEM]: MESSAGING_SYSTEM_VALUE_KAFKA,
                [ATTR_MESSAGING_DESTINATION_NAME]: options.topic,
                [ATTR_MESSAGING_OPERATION_TYPE]: MESSAGING_OPERATION_TYPE_VALUE_SEND,
              },
            });
      const headers = { [requestIdHeader]: order.requestId };
      return new Promise<PublishOutcome>((resolve) => {
        queue.push({
          order,
          resolve,
          span,
          headers: span === undefined ? headers : { ...headers, ...traceContextHeaders(span) },
        });
        schedule();
      });
    },
    async close() {
      startDrain();
      await draining;
      const p = producer;
      producer = undefined;
      await p?.then((x) => x.disconnect()).catch(() => undefined);
    },
  };
}
