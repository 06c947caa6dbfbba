/**
 * Stopping and starting predictably, with the compiled processes: SIGTERM during a load of
 * orders loses nothing and exits 0 (gate and worker); a second SIGTERM forces exit; bad
 * configuration and unreachable dependencies at start-up are reported in plain lines.
 */
import { ConnectError, createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, describe, expect, test } from 'vitest';
import { InventoryService } from '../../gen/fluxgate/v1/inventory_pb.js';
import { OrderStatus } from '../../gen/fluxgate/v1/order_pb.js';
import { createFluxGateClient } from '../../src/client/node.js';
import { consumerLag, createTopics } from '../../src/kafka/topics.js';
import { startWorker, type RunningWorker } from '../../src/main-worker.js';
import { createOrm } from '../../src/persistence/orm.js';
import { createOrderStream } from '../support/order-stream.js';
import {
  envFor,
  exited,
  freePort,
  spawnGate,
  spawnProcess,
  spawnWorker,
  type Spawned,
} from '../support/processes.js';
import { createTestSale, testSale } from '../support/sales.js';
import { eventually, isolatedConfig, redisFor } from '../support/stack.js';
import { adminToken } from '../support/system.js';

describe('SIGTERM', () => {
  let worker: RunningWorker | undefined;
  afterAll(() => worker?.close());

  test('to the gate under load: every order answered PENDING is persisted, nothing half-done, exit 0', async () => {
    const { config, gate, url } = await spawnGate({ shutdownGraceMs: 10_000 });
    worker = await startWorker(config);
    const client = createFluxGateClient({ baseUrl: url, adminToken });
    const sku = 'TERM-1';
    const total = 1_000_000;
    await createTestSale(
      client.admin,
      testSale(sku, {
        totalStock: total,
        perCustomerLimit: 1000,
        admissionRate: 100_000,
        admissionBurst: 100_000,
      }),
    );

    // 16 buyers order in a loop (no retries, so every answer is seen as it came) until the
    // gate is gone; SIGTERM lands in the middle.
    const accepted = new Map<string, number>();
    const failures = new Map<string, number>();
    let gone = false;
    const buyer = async (b: number) => {
      for (let i = 0; !gone; i++) {
        const quantity = 1 + ((b + i) % 3);
        try {
          const res = await client.orders.placeOrder(
            {
              sku,
              quantity,
              customerId: `b${String(b)}-${String(i)}`,
              idempotencyKey: randomUUID(),
            },
            { timeoutMs: 5000 },
          );
          expect(res.status).toBe(OrderStatus.PENDING);
          accepted.set(res.orderId, quantity);
        } catch (error) {
          const code = ConnectError.from(error).code;
          failures.set(String(code), (failures.get(String(code)) ?? 0) + 1);
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }
    };
    const buyers = Promise.all(Array.from({ length: 16 }, (_, b) => buyer(b)));
    await eventually(async () => accepted.size >= 300, 30_000, '300 accepted orders');
    gate.child.kill('SIGTERM');
    const code = await exited(gate.child);
    gone = true;
    await buyers;
    expect(code, gate.output().slice(-2000)).toBe(0);
    expect(gate.output()).toContain('"msg":"gate stopped"');

    // Every PENDING answer is a recorded order, and nothing else is.
    const orm = await createOrm(config.databaseUrl, config.databaseSchema);
    const { redis, keys } = redisFor(config);
    try {
      const recorded = async () =>
        orm.em
          .getConnection()
          .execute<{ order_id: string; quantity: number; status: string }[]>(
            'select order_id, quantity, status from orders',
          );
      await eventually(
        async () => (await recorded()).length >= accepted.size,
        60_000,
        `${String(accepted.size)} orders recorded`,
      );
      const rows = await recorded();
      expect(new Set(rows.map((r) => r.order_id))).toEqual(new Set(accepted.keys()));
      expect(rows.every((r) => r.status === 'CONFIRMED')).toBe(true);
      // Nothing half-done: the outbox is empty and the live stock is exactly what was sold.
      const sold = [...accepted.values()].reduce((a, b) => a + b, 0);
      expect(await redis.xlen(keys.outbox(sku))).toBe(0);
      expect(Number(await redis.get(keys.stock(sku)))).toBe(total - sold);
    } finally {
      await orm.close();
      redis.disconnect();
    }
  });

  test('to the worker mid-stream: the batch in hand commits, offsets match the rows, exit 0', async () => {
    const config = isolatedConfig();
    const stream = await createOrderStream(config, 'TERM-W', 20_000, () => 1);
    try {
      await stream.produce(0, 20_000);
      const child = spawnWorker(config);
      await eventually(async () => (await stream.recorded()) > 0, 60_000, 'first rows');
      child.kill('SIGTERM');
      expect(await exited(child)).toBe(0);

      // Whatever was recorded was committed, and nothing more: the group resumes exactly there.
      const recorded = await stream.recorded();
      const admin = new Kafka({ brokers: config.kafkaBrokers, logLevel: logLevel.NOTHING }).admin();
      await admin.connect();
      try {
        const lag = await consumerLag(
          admin,
          config.workerGroupId,
          createTopics(config.topicPrefix).orders,
        );
        expect(lag).toBe(20_000 - recorded);
      } finally {
        await admin.disconnect();
      }
      const next = await startWorker(config);
      try {
        await eventually(async () => (await stream.recorded()) === 20_000, 120_000, 'all rows');
      } finally {
        await next.close();
      }
    } finally {
      await stream.close();
    }
  });

  test('a second SIGTERM while draining forces exit', async () => {
    const { gate, url } = await spawnGate({ shutdownGraceMs: 60_000 });
    // A watch of a live sale keeps a call in flight, so the first SIGTERM waits for it.
    await createTestSale(
      createFluxGateClient({ baseUrl: url, adminToken }).admin,
      testSale('TERM-2', { totalStock: 10 }),
    );
    const inventory = createClient(InventoryService, createGrpcTransport({ baseUrl: url }));
    const updates: unknown[] = [];
    const watching = (async () => {
      try {
        for await (const update of inventory.watchStock({ sku: 'TERM-2' })) updates.push(update);
      } catch {
        // cut by the forced exit
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 500));
    gate.child.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(gate.child.exitCode).toBeNull(); // still draining
    const started = performance.now();
    gate.child.kill('SIGTERM');
    expect(await exited(gate.child)).toBe(1);
    expect(performance.now() - started).toBeLessThan(5000);
    expect(gate.output()).toContain('SIGTERM again: exiting now');
    await watching;
    expect(updates.length).toBeGreaterThan(0);
  });
});

describe('start-up', () => {
  const dist = (overrides: Record<string, string>): Spawned =>
    spawnProcess('main-gate', { ...envFor(isolatedConfig({ logLevel: 'info' })), ...overrides });

  test('bad configuration: one clear line per problem, exit 2', async () => {
    const gate = dist({ FLUXGATE_GATE_PORT: 'eighty', FLUXGATE_MAX_QUANTITY: '0' });
    expect(await exited(gate.child)).toBe(2);
    const lines = gate.output().trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^config: FLUXGATE_GATE_PORT="eighty": /);
    expect(lines[1]).toMatch(/^config: FLUXGATE_MAX_QUANTITY="0": /);
  });

  test('an unreachable dependency is retried and reported, then start-up goes on', async () => {
    const port = await freePort();
    const gate = dist({
      FLUXGATE_REDIS_URL: `redis://127.0.0.1:${String(port)}`,
      FLUXGATE_GATE_PORT: String(await freePort()),
    });
    await gate.waitFor(/"msg":"redis: unreachable, retrying"/);
    const redis = spawn(
      'redis-server',
      ['--port', String(port), '--save', '', '--appendonly', 'no'],
      {
        stdio: 'ignore',
      },
    );
    try {
      await gate.waitFor(/"msg":"gate listening"/);
      expect(gate.output()).not.toMatch(/^\s+at /m); // reported, not a stack trace
      gate.child.kill('SIGTERM');
      expect(await exited(gate.child)).toBe(0);
    } finally {
      redis.kill();
    }
  });

  test('a dependency unreachable past the start-up timeout: one line, exit 1', async () => {
    const gate = dist({
      FLUXGATE_REDIS_URL: `redis://127.0.0.1:${String(await freePort())}`,
      FLUXGATE_STARTUP_TIMEOUT_SECONDS: '2',
    });
    expect(await exited(gate.child)).toBe(1);
    expect(gate.output()).toMatch(/^startup: redis: still unreachable after 2 s: /m);
    expect(gate.output()).not.toMatch(/^\s+at /m);
  });
});
