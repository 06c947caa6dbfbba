/**
 * With no OTLP endpoint configured tracing is off and costs nothing on the order path: the gate
 * adds no trace context to the Kafka record, even for a call that brings a `traceparent`
 * (docs/tracing.md). The record still carries its request id.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createTopics } from '../../src/kafka/topics.js';
import { readTopic } from '../support/stack.js';
import { startSystem, type System } from '../support/system.js';

let system: System;
beforeAll(async () => {
  system = await startSystem();
  await system.createSale('UNTRACED-1', { totalStock: 5 });
});
afterAll(() => system.close());

describe('trace headers with tracing off', () => {
  test('a record carries its request id and no trace context', async () => {
    expect(system.config.otlpEndpoint).toBe('');
    const traceparent = `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`;
    const requestId = randomUUID();
    const { orderId } = await system.orders.placeOrder(
      { sku: 'UNTRACED-1', quantity: 1, customerId: 'alice', idempotencyKey: randomUUID() },
      { headers: { traceparent, tracestate: 'vendor=1', 'x-request-id': requestId } },
    );
    expect(orderId).not.toBe('');
    const [record] = await readTopic(
      system.config,
      createTopics(system.config.topicPrefix).orders,
      (records) => records.length >= 1,
    );
    expect(record?.headers?.['request-id']?.toString()).toBe(requestId);
    expect(Object.keys(record?.headers ?? {})).toEqual(['request-id']);
  });
});
