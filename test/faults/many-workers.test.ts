/**
 * Issue #14, many workers: a steady stream of orders through two gates, for four sales whose
 * skus fall on the four partitions of the order topic, while the worker group changes under it.
 * A second worker joins, the first is stopped (SIGTERM), a third joins, the second is killed
 * (SIGKILL). Every accepted order is recorded exactly once, nothing refused is recorded, the
 * consumer lag returns to zero, and every worker recorded orders while it shared the topic with
 * another: the test cannot pass with one worker doing everything.
 *
 * Behaviour, not timing: each step waits for what it needs (a worker recording orders), never
 * for a fixed time.
 */
import { AssignerProtocol, Kafka, logLevel, type Admin } from 'kafkajs';
import { expect, test } from 'vitest';
import { createTopics } from '../../src/kafka/topics.js';
import {
  audit,
  checkInvariants,
  discrepancies,
  processLogs,
  runFault,
  startFaultSystem,
  type Fault,
  type FaultSystem,
  type Service,
} from '../support/fault-load.js';
import { sample } from '../support/metrics.js';
import { cleanUpAfterFile } from '../support/processes.js';
import { eventually } from '../support/stack.js';

const cleanUp = cleanUpAfterFile();

const partitions = 4;
/**
 * One sale per partition: kafkajs's default partitioner (murmur2 of the sku, as Java's) puts
 * these on partitions 0, 3, 1 and 2 of four. The test checks it from the recorded rows.
 */
const skus = ['MANY-1', 'MANY-2', 'MANY-3', 'MANY-4'];

/** Orders `worker` has recorded so far (its own counter, on its operations port). */
async function recordedBy(worker: Service): Promise<number> {
  const page = await (await fetch(`${worker.opsUrl}/metrics`)).text();
  return sample(page, 'fluxgate_worker_orders_persisted_total', { status: 'CONFIRMED' });
}

/** The order-topic partitions each member of the worker group holds, once the group is stable. */
async function assignments(admin: Admin, system: FaultSystem): Promise<number[][]> {
  const topic = createTopics(system.config.topicPrefix).orders;
  let held: number[][] = [];
  await eventually(
    async () => {
      const [group] = (await admin.describeGroups([system.config.workerGroupId])).groups;
      if (group?.state !== 'Stable') return false;
      held = group.members.map((m) =>
        (AssignerProtocol.MemberAssignment.decode(m.memberAssignment)?.assignment[topic] ?? [])
          .slice()
          .sort((a, b) => a - b),
      );
      return true;
    },
    30_000,
    'the worker group to be stable',
  );
  return held;
}

/**
 * Waits until `joined` records orders, then until both `joined` and `other` record more. The
 * group gives `joined` its partitions only once `other` has rejoined, so the orders `other`
 * records after that come from the partitions it kept. Then the group must hold exactly these
 * two members, each with partitions of its own, together all of them: the two share the topic
 * in one group (two workers in two groups would both record orders too, each reading all).
 */
async function share(
  admin: Admin,
  system: FaultSystem,
  other: Service,
  joined: Service,
): Promise<void> {
  await eventually(
    async () => (await recordedBy(joined)) > 0,
    60_000,
    `${joined.name} to record orders`,
  );
  const before = [await recordedBy(other), await recordedBy(joined)];
  await eventually(
    async () => (await recordedBy(other)) > before[0]! && (await recordedBy(joined)) > before[1]!,
    60_000,
    `${other.name} and ${joined.name} both to record more orders`,
  );
  const held = await assignments(admin, system);
  expect(held, `partitions held by each member`).toHaveLength(2);
  for (const partitionsOfOne of held) expect(partitionsOfOne.length).toBeGreaterThan(0);
  expect(held.flat().sort((a, b) => a - b)).toEqual(
    Array.from({ length: partitions }, (_, p) => p),
  );
}

test('workers join and leave (SIGTERM, SIGKILL) mid-stream: every order recorded once, the work shared', async () => {
  const system = await startFaultSystem({
    sku: skus[0],
    moreSkus: skus.slice(1),
    config: { orderTopicPartitions: partitions },
  });
  cleanUp.track(...system.services);
  cleanUp.dropDataOf(system.config);
  const admin = new Kafka({
    brokers: system.config.kafkaBrokers,
    logLevel: logLevel.NOTHING,
  }).admin();
  await admin.connect();
  const exits = new Map<string, number | string | null>();
  const recorded = new Map<string, number>();
  const added: Service[] = [];
  const scaling: Fault = {
    label: 'a worker joins, the first stops (SIGTERM), another joins, the second is killed',
    async inject(s) {
      const first = s.worker;
      await eventually(
        async () => (await recordedBy(first)) > 0,
        60_000,
        'the first worker to record orders',
      );
      const second = await s.addWorker();
      added.push(second);
      cleanUp.track(second);
      await share(admin, s, first, second);
      recorded.set(first.name, await recordedBy(first));
      await first.stop();
      exits.set(first.name, first.child.exitCode ?? first.child.signalCode);

      const third = await s.addWorker();
      added.push(third);
      cleanUp.track(third);
      await share(admin, s, second, third);
      recorded.set(second.name, await recordedBy(second));
      await second.kill();
      exits.set(second.name, second.child.exitCode ?? second.child.signalCode);
    },
    async heal() {
      // Nothing to start: the third worker takes the killed one's partitions once the group's
      // session drops it. runFault goes on until every order accepted so far is recorded.
    },
    holdMs: 0,
  };

  try {
    // Four buyers are stream enough, and leave the two cores room to start the workers.
    const run = await runFault(
      system,
      scaling,
      { beforeMs: 0, afterMinMs: 1000, healthyForMs: 1000 },
      { clients: 4 },
    );
    const books = await audit(system, run);
    const invariants = await checkInvariants(system, run, books);
    const third = added[1]!;
    recorded.set(third.name, await recordedBy(third));
    const logs = processLogs(system);

    // The group changed as planned: a clean stop, a crash.
    expect(Object.fromEntries(exits)).toEqual({ worker: 0, 'worker 2': 'SIGKILL' });
    // Each worker recorded orders (share() also saw each pair record side by side).
    for (const [name, n] of recorded) expect(n, `orders recorded by ${name}`).toBeGreaterThan(0);
    expect(recorded.size).toBe(3);

    // Exactly once: the rows are the accepted orders, one row each, and nothing else.
    const accepted = new Set(run.load.orders.flatMap((o) => [...o.orderIds]));
    const schema = `"${system.config.databaseSchema}"`;
    const { rows } = await system.db.query<{ id: string; customer: string; partition: number }>(
      `select order_id::text as id, customer_id as customer, kafka_partition as partition
         from ${schema}.orders`,
    );
    const ids = new Set(rows.map((r) => r.id));
    expect(accepted.size).toBeGreaterThan(500);
    expect(
      {
        rows: rows.length,
        'distinct order ids': ids.size,
        'accepted, not recorded': [...accepted].filter((id) => !ids.has(id)).length,
        'recorded, not accepted': [...ids].filter((id) => !accepted.has(id)).length,
      },
      logs,
    ).toEqual({
      rows: accepted.size,
      'distinct order ids': accepted.size,
      'accepted, not recorded': 0,
      'recorded, not accepted': 0,
    });
    // Nothing refused or left unknown is recorded (each order has a customer of its own).
    const customers = new Set(rows.map((r) => r.customer));
    const notAccepted = run.load.orders.filter((o) => o.outcome !== 'ok');
    expect(notAccepted.filter((o) => customers.has(o.customerId)).map((o) => o.key)).toEqual([]);
    expect(run.openAfterSettle).toBe(0);

    // The orders did spread: every partition of the configured count carried a sale.
    expect(new Set(rows.map((r) => r.partition))).toEqual(
      new Set(Array.from({ length: partitions }, (_, p) => p)),
    );
    const { topics } = await admin.fetchTopicMetadata({
      topics: [createTopics(system.config.topicPrefix).orders],
    });
    expect(topics[0]?.partitions).toHaveLength(partitions);

    // The books add up, and I1–I7 hold (I7: the group's lag back to zero).
    expect.soft(discrepancies(run, books), logs).toEqual({});
    expect
      .soft(invariants.filter((r) => r.holds !== true).map((r) => `${r.id}: ${r.detail}`))
      .toEqual([]);
  } finally {
    await admin.disconnect();
    await system.stop();
  }
});
