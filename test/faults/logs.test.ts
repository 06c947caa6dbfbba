/**
 * The logs of one order, with the compiled gate and worker as separate processes: the request
 * id travels from the gate's lines through the Kafka record headers to the worker's line, and
 * no idempotency key or admin token is ever written.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, test } from 'vitest';
import { createFluxGateClient } from '../../src/client/node.js';
import { createTopics } from '../../src/kafka/topics.js';
import { envFor, exited, spawnGate, spawnProcess, type Spawned } from '../support/processes.js';
import { createTestSale, testSale } from '../support/sales.js';
import { readTopic } from '../support/stack.js';
import { adminToken } from '../support/system.js';

const running: Spawned[] = [];
afterAll(async () => {
  for (const p of running) {
    p.child.kill('SIGTERM');
    await exited(p.child);
  }
});

describe('logs', () => {
  test('one request id from the gate, through Kafka, to the worker; no keys or tokens', async () => {
    const { config, gate, url } = await spawnGate();
    const worker = spawnProcess('main-worker', envFor(config));
    running.push(gate, worker);
    await worker.waitFor(/"msg":"worker consuming"/);
    const client = createFluxGateClient({ baseUrl: url, adminToken });
    await createTestSale(client.admin, testSale('LOG-1', { totalStock: 5 }));

    const reqId = randomUUID();
    const idempotencyKey = `secret-key-${randomUUID()}`;
    const { orderId } = await client.orders.placeOrder(
      { sku: 'LOG-1', quantity: 1, customerId: 'alice', idempotencyKey },
      { headers: { 'x-request-id': reqId } },
    );

    await gate.waitFor(
      new RegExp(`"reqId":"${reqId}".*"orderId":"${orderId}".*"msg":"order accepted"`),
    );
    await worker.waitFor(
      new RegExp(
        `"orderId":"${orderId}","reqId":"${reqId}".*"status":"CONFIRMED".*"msg":"order persisted"`,
      ),
    );
    const [record] = await readTopic(
      config,
      createTopics(config.topicPrefix).orders,
      (r) => r.length >= 1,
    );
    expect(record?.headers?.['request-id']?.toString()).toBe(reqId);

    for (const output of [gate.output(), worker.output()]) {
      expect(output).not.toContain(idempotencyKey);
      expect(output).not.toContain(adminToken);
    }
  });
});
