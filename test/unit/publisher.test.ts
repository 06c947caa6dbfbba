/**
 * How the order publisher gathers orders into produce requests: at the end of the event loop's
 * turn without a linger, the orders that come while a request is in flight in the next one, no
 * request over the size bound, and a linger that holds a batch. The producer is an in-memory
 * stand-in that records each request and answers it when the test says; what Kafka does with a
 * request is tested against the broker (test/faults/kafka-outage.test.ts and others).
 */
import type { Producer, ProducerRecord } from 'kafkajs';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { createKafkaPublisher, type KafkaPublisher } from '../../src/kafka/publisher.js';
import { createBreaker } from '../../src/resilience/breaker.js';
import { randomAcceptedOrder } from '../fixtures/orders.js';

afterEach(() => {
  vi.useRealTimers();
});

/** A producer whose requests wait until `answer()` acknowledges the oldest one. */
function recordingProducer() {
  const requests: ProducerRecord[] = [];
  const answers: (() => void)[] = [];
  const producer = {
    send(record: ProducerRecord) {
      requests.push(record);
      return new Promise((resolve) => answers.push(() => resolve([])));
    },
    disconnect: () => Promise.resolve(),
  } as unknown as Producer;
  return {
    producer,
    requests,
    /** Acknowledges the oldest request not yet answered. */
    answer: () => answers.shift()?.(),
    /** How many records each request carried. */
    sizes: () => requests.map((r) => r.messages.length),
  };
}

function publisherOn(
  fake: ReturnType<typeof recordingProducer>,
  options: { lingerMs?: number; maxBatch?: number } = {},
): KafkaPublisher {
  return createKafkaPublisher({
    connectProducer: () => Promise.resolve(fake.producer),
    topic: 'orders',
    lingerMs: options.lingerMs ?? 0,
    maxBatch: options.maxBatch ?? 500,
    timeoutMs: 60_000,
    breaker: createBreaker({ dependency: 'kafka', failures: 3, probeAfterMs: 1000 }),
    onError: () => undefined,
  });
}

const order = (n: number) => randomAcceptedOrder('SKU-1', 1, `c${n}`);
const endOfTurn = () => new Promise((resolve) => setImmediate(resolve));

describe('publisher batching', () => {
  test('without a linger, the orders of one turn go in one request, sent at the end of the turn', async () => {
    const fake = recordingProducer();
    const publisher = publisherOn(fake);
    const outcomes = [1, 2, 3].map((n) => publisher.publish(order(n)));
    expect(fake.requests).toHaveLength(0);
    await vi.waitFor(() => expect(fake.sizes()).toEqual([3]));
    fake.answer();
    expect(await Promise.all(outcomes)).toEqual(['acked', 'acked', 'acked']);
    await publisher.close();
  });

  test('orders that come while a request is in flight form the next request', async () => {
    const fake = recordingProducer();
    const publisher = publisherOn(fake);
    const first = publisher.publish(order(1));
    await vi.waitFor(() => expect(fake.sizes()).toEqual([1]));
    const later = [2, 3, 4].map((n) => publisher.publish(order(n)));
    await endOfTurn();
    await endOfTurn();
    expect(fake.sizes()).toEqual([1]); // one request in flight at a time
    fake.answer();
    expect(await first).toBe('acked');
    await vi.waitFor(() => expect(fake.sizes()).toEqual([1, 3]));
    fake.answer();
    expect(await Promise.all(later)).toEqual(['acked', 'acked', 'acked']);
    await publisher.close();
  });

  test('no request carries more than the size bound', async () => {
    const fake = recordingProducer();
    const publisher = publisherOn(fake, { maxBatch: 2 });
    const outcomes = [1, 2, 3, 4, 5].map((n) => publisher.publish(order(n)));
    await vi.waitFor(() => expect(fake.sizes()).toEqual([2]));
    fake.answer();
    await vi.waitFor(() => expect(fake.sizes()).toEqual([2, 2]));
    fake.answer();
    await vi.waitFor(() => expect(fake.sizes()).toEqual([2, 2, 1]));
    fake.answer();
    expect(await Promise.all(outcomes)).toEqual(Array(5).fill('acked'));
    await publisher.close();
  });

  test('a linger holds a batch until it has passed', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const fake = recordingProducer();
    const publisher = publisherOn(fake, { lingerMs: 50 });
    const outcomes = [1, 2].map((n) => publisher.publish(order(n)));
    await endOfTurn();
    vi.advanceTimersByTime(49);
    await endOfTurn();
    expect(fake.requests).toHaveLength(0);
    const third = publisher.publish(order(3));
    vi.advanceTimersByTime(1);
    await vi.waitFor(() => expect(fake.sizes()).toEqual([3]));
    fake.answer();
    expect(await Promise.all([...outcomes, third])).toEqual(['acked', 'acked', 'acked']);
    await publisher.close();
  });

  test('closing sends what is queued at once', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const fake = recordingProducer();
    const publisher = publisherOn(fake, { lingerMs: 60_000 });
    const outcome = publisher.publish(order(1));
    const closed = publisher.close();
    await vi.waitFor(() => expect(fake.sizes()).toEqual([1]));
    fake.answer();
    await closed;
    expect(await outcome).toBe('acked');
  });
});
