/**
 * The worker frozen (SIGSTOP) for longer than its group session while it holds a batch, under a
 * steady load of orders on two gates: once it resumes (SIGCONT) and the backlog drains, GetOrder
 * on either gate answers every acknowledged order exactly as the database records it.
 */
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { afterAll, expect, test } from 'vitest';
import { OrderStatus, RejectReason } from '../../gen/fluxgate/v1/order_pb.js';
import { createFluxGateClient, type FluxGateClient } from '../../src/client/node.js';
import { consumerLag, createTopics } from '../../src/kafka/topics.js';
import {
  envFor,
  exited,
  freePort,
  spawnGate,
  spawnProcess,
  type Spawned,
} from '../support/processes.js';
import { createTestSale, testSale } from '../support/sales.js';
import { eventually } from '../support/stack.js';
import { adminToken } from '../support/system.js';

/** Longer than the worker's group session (10 s), so the coordinator drops the member. */
const pauseMs = 20_000;

const running: Spawned[] = [];
let dropSchema: (() => Promise<void>) | undefined;
afterAll(async () => {
  for (const p of running) {
    p.child.kill('SIGCONT'); // in case the test failed while the worker was frozen
    p.child.kill('SIGTERM');
    await exited(p.child);
  }
  await dropSchema?.();
});

test('worker frozen past its session right after a batch commits: GetOrder on both gates matches the database', async () => {
  const { config, gate: gateA, url: urlA } = await spawnGate();
  const configB = { ...config, gatePort: await freePort() };
  const gateB = spawnProcess('main-gate', envFor(configB));
  running.push(gateA, gateB);
  await gateB.waitFor(/"msg":"gate listening"/);
  const worker = spawnProcess('main-worker', envFor(config));
  running.push(worker);
  await worker.waitFor(/"msg":"worker consuming"/);

  const clients: FluxGateClient[] = [urlA, `http://127.0.0.1:${String(configB.gatePort)}`].map(
    (baseUrl) => createFluxGateClient({ baseUrl, adminToken }),
  );
  const sku = 'PAUSE-1';
  await createTestSale(
    clients[0]!.admin,
    testSale(sku, {
      totalStock: 1_000_000,
      perCustomerLimit: 1_000_000,
      admissionRate: 100_000,
      admissionBurst: 100_000,
    }),
  );

  const db = new pg.Client({ connectionString: config.databaseUrl });
  await db.connect();
  const schema = `"${config.databaseSchema}"`;
  dropSchema = async () => {
    await db.query(`drop schema ${schema} cascade`);
    await db.end();
  };
  const recorded = async () =>
    Number(
      (await db.query<{ n: string }>(`select count(*) as n from ${schema}.orders`)).rows[0]?.n,
    );

  // A steady load: 8 buyers, alternating gates, each waiting for its answer before the next.
  const acknowledged: string[] = [];
  let loading = true;
  const buyer = async (b: number) => {
    for (let i = 0; loading; i++) {
      try {
        const { orderId } = await clients[(b + i) % 2]!.orders.placeOrder(
          { sku, quantity: 1, customerId: `b${String(b)}`, idempotencyKey: randomUUID() },
          { timeoutMs: 5000 },
        );
        acknowledged.push(orderId);
      } catch {
        // Only acknowledged orders are compared; a refusal or timeout here is not the point.
      }
    }
  };
  const buyers = Promise.all(Array.from({ length: 8 }, (_, b) => buyer(b)));

  const lock = new pg.Client({ connectionString: config.databaseUrl });
  await lock.connect();
  try {
    await eventually(async () => (await recorded()) >= 200, 60_000, 'the first orders recorded');
    // Pin the freeze inside a batch's transaction: hold the product row, so the worker's next
    // batch waits on its lock, freeze the worker there, then let the lock go. On SIGCONT the
    // transaction commits at once, with the worker long dropped from its group: the window
    // between the commit and the notifications that a freeze at random hits only sometimes.
    await lock.query('begin');
    await lock.query(`select stock from ${schema}.product where sku = $1 for update`, [sku]);
    const { rows } = await lock.query<{ pid: number }>('select pg_backend_pid() as pid');
    await eventually(
      async () =>
        (
          await db.query<{ n: string }>(
            'select count(*) as n from pg_stat_activity where $1 = any(pg_blocking_pids(pid))',
            [rows[0]?.pid],
          )
        ).rows[0]?.n !== '0',
      30_000,
      "the worker's batch to wait on the product row",
    );
    worker.child.kill('SIGSTOP');
    await lock.query('commit');
    await new Promise((resolve) => setTimeout(resolve, pauseMs));
    worker.child.kill('SIGCONT');
    await new Promise((resolve) => setTimeout(resolve, 2000)); // the load goes on a little
  } finally {
    loading = false;
    await buyers;
    await lock.end();
  }

  // Drain: every acknowledged order recorded, and the worker's group caught up.
  const admin = new Kafka({ brokers: config.kafkaBrokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const topic = createTopics(config.topicPrefix).orders;
    await eventually(
      async () => (await recorded()) >= acknowledged.length,
      120_000,
      `${String(acknowledged.length)} orders recorded`,
    );
    await eventually(
      async () => (await consumerLag(admin, config.workerGroupId, topic)) === 0,
      120_000,
      'the worker to commit the whole topic',
    );
  } finally {
    await admin.disconnect();
  }

  const { rows } = await db.query<{
    order_id: string;
    status: string;
    reject_reason: string | null;
  }>(`select order_id, status, reject_reason from ${schema}.orders`);
  const stored = new Map(rows.map((r) => [r.order_id, r]));
  expect(acknowledged.every((id) => stored.has(id))).toBe(true);

  // Every acknowledged order, asked of both gates, answers what the database says.
  const mismatches: string[] = [];
  for (let i = 0; i < acknowledged.length; i += 50) {
    await Promise.all(
      acknowledged.slice(i, i + 50).flatMap((orderId) =>
        clients.map(async (client, g) => {
          const row = stored.get(orderId)!;
          const expected = `${row.status}/${row.reject_reason ?? '-'}`;
          const { order } = await client.orders.getOrder({ orderId });
          const reason = order?.rejectReason ?? RejectReason.UNSPECIFIED;
          const got = `${OrderStatus[order?.status ?? OrderStatus.UNSPECIFIED]}/${
            reason === RejectReason.UNSPECIFIED ? '-' : RejectReason[reason]
          }`;
          if (got !== expected)
            mismatches.push(`${orderId} on gate ${'AB'[g]!}: ${got}, database ${expected}`);
        }),
      ),
    );
  }
  expect(acknowledged.length).toBeGreaterThan(200);
  expect(
    mismatches.slice(0, 10),
    `${String(mismatches.length)} of ${String(acknowledged.length * 2)} answers contradict the database`,
  ).toEqual([]);
  // The freeze did land between a commit and its offsets: the batch came back as duplicates.
  expect(worker.output()).toContain('its status announced again');
});
