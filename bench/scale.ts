/**
 * Scaling benchmark (npm run bench:scale). Prints figures; asserts nothing. Two parts, one run:
 *
 * 1. Edge admission under a 10x overload (bench/edge-flood.ts, as bench:edge measures it): a
 *    sale admitting BENCH_EDGE_RATE orders/s (default 20, burst half of it) flooded at ten times
 *    that for BENCH_EDGE_SECONDS (default 10) through one gate with leases on (the default):
 *    Redis commands per offered and per refused request (net of the gate's idle commands and
 *    the accepted orders'; target ≤ 0.05), the gate's Redis calls per refused request.
 *
 * 2. PlaceOrder throughput with 1 and 2 gate processes and 1 and 2 workers (BENCH_RUNS, default
 *    1x1,2x1,1x2,2x2: gates x workers), each a fresh system: the compiled gate
 *    (dist/src/main-gate.js, FLUXGATE_GATE_PROCESSES=N: one port, a Node cluster primary and N
 *    processes) and N compiled workers (dist/src/main-worker.js, one consumer group). ghz sends
 *    closed-loop load (BENCH_CONCURRENCY callers, default 64, on 4 HTTP/2 connections) for
 *    BENCH_SECONDS (default 15) after a BENCH_WARMUP_SECONDS warm-up (default 3), every call a
 *    new customer, to BENCH_SALES sales (default: one per partition of the order topic) whose
 *    admission and stock are never the limit. The order topic is keyed by sale, so one sale's
 *    orders are one partition's and one worker's: with a single sale a second worker would sit
 *    idle. Per run: accepted calls/s and their p50/p99 (ghz), orders persisted/s by the workers
 *    (their /metrics, checked against the rows in PostgreSQL), and each process's CPU per
 *    offered and per accepted request over the load and the workers' catching up after it: the
 *    gate processes (primary and children together), each worker, redis-server (INFO cpu), the
 *    Kafka JVM and PostgreSQL (postmaster and backends) of the local stack (/proc; "-" when the
 *    stack runs elsewhere), ghz, and the whole machine (/proc/stat). Then ratios to the first run.
 *
 * Pinning: gate process i runs on CPU i-1 of BENCH_GATE_CPUS (default: one per core, the
 * cluster primary on the first), ghz on BENCH_GHZ_CPU (default the last core); workers, Redis,
 * Kafka and PostgreSQL are not pinned. On two cores nothing gets a core of its own.
 * BENCH_PARTS=edge or =scale runs one part.
 */
import { execFileSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import pg from 'pg';
import { loadConfig } from '../src/config.js';
import { createTopics } from '../src/kafka/topics.js';
import { floodHeader, floodRow, floodSale, leaseMsOf } from './edge-flood.js';
import { ghzBinary, ghzPlaceOrders } from './ghz.js';
import {
  childPids,
  machineBusySeconds,
  percentile,
  processCpuSeconds,
  processTreeCpuSeconds,
  reapedChildrenCpuSeconds,
  redisCpuSeconds,
} from './measure.js';
import { metricsPage, sumSamples } from '../test/support/metrics.js';
import {
  benchEnvironment,
  dropBenchKeys,
  freePort,
  insertBenchProduct,
  loadBenchSale,
  pinProcess,
  spawnService,
  stackPid,
  type Service,
} from './setup.js';

const startedAt = performance.now();
const cores = availableParallelism();
const parts = (process.env.BENCH_PARTS ?? 'edge,scale').split(',');
const edgeRate = Number(process.env.BENCH_EDGE_RATE ?? 20);
const edgeSeconds = Number(process.env.BENCH_EDGE_SECONDS ?? 10);
const seconds = Number(process.env.BENCH_SECONDS ?? 15);
const warmupSeconds = Number(process.env.BENCH_WARMUP_SECONDS ?? 3);
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 64);
const connections = 4;
const runs = (process.env.BENCH_RUNS ?? '1x1,2x1,1x2,2x2').split(',').map((run) => {
  const [gates = 1, workers = 1] = run.split('x').map(Number);
  return { gates, workers };
});
const gateCpus = (
  process.env.BENCH_GATE_CPUS ?? Array.from({ length: cores }, (_, i) => i).join(',')
).split(',');
const ghzCpu = Number(process.env.BENCH_GHZ_CPU ?? cores - 1);

const prefix = `scale${Date.now().toString(36)}`;
const { serverEnv, redis } = benchEnvironment(prefix);
const ghz = ghzBinary();
// The compiled services of part 2: a schema and consumer group of their own, migrated once here
// (two workers starting together would both migrate), quiet logs (at info the gate logs a line
// per accepted order).
const systemEnv: NodeJS.ProcessEnv = {
  ...serverEnv,
  FLUXGATE_DATABASE_SCHEMA: prefix,
  FLUXGATE_WORKER_GROUP: `${prefix}-worker`,
  FLUXGATE_WORKER_MIGRATE: 'false',
  FLUXGATE_LOG_LEVEL: process.env.FLUXGATE_LOG_LEVEL ?? 'warn',
};
const config = loadConfig(systemEnv);
const partitions = config.orderTopicPartitions;
const sales = Number(process.env.BENCH_SALES ?? partitions);
const gateNodeFlags = ['--max-semi-space-size=32']; // the gate's production flag (scripts/start.sh)
const admin = new Kafka({ brokers: config.kafkaBrokers, logLevel: logLevel.NOTHING }).admin();
await admin.connect();

const fmt = (x: number, digits = 0, width = 8) =>
  (Number.isFinite(x)
    ? x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
    : '-'
  ).padStart(width);

console.log(
  `scaling benchmark: ${String(cores)} cores (${cores <= 2 ? 'only two: ' : ''}gates, workers, Redis, Kafka, PostgreSQL and ghz all share them), Node ${process.version}`,
);
if (cores <= 2)
  console.log(
    'On two cores a second gate or worker process gets no core of its own: read the rows as what more processes cost on the same cores, and the ratios rather than the rates.',
  );

// --- 1. Edge admission under a 10x overload --------------------------------------------------
if (parts.includes('edge')) {
  const leaseMs = leaseMsOf(serverEnv);
  console.log(
    `\n1. Edge admission under a 10x overload: a sale admitting ${String(edgeRate)}/s (burst ${String(Math.max(1, edgeRate / 2))}), ` +
      `flooded at ${String(10 * edgeRate)}/s for ${String(edgeSeconds)} s over gRPC through one gate (bench/gate-server.js on CPU 0), ` +
      `leases on (${String(leaseMs)} ms); ghz --async on CPU 1`,
  );
  const flood = await floodSale(
    { ghz, prefix, serverEnv, redis, rate: edgeRate, seconds: edgeSeconds },
    1,
    leaseMs,
    0,
  );
  console.log(floodHeader);
  console.log(floodRow(1, leaseMs, flood));
  const perRefused = flood.refusalCommands / Math.max(flood.refused, 1);
  console.log(
    `Redis commands per offered request ${(flood.redisCommands / Math.max(flood.offered, 1)).toFixed(3)}` +
      ` (all Redis ran, the accepted orders' included); per refused request, net of the idle gate and the accepted orders: ${perRefused.toFixed(3)}` +
      ` (target ≤ 0.05: ${perRefused <= 0.05 ? 'met' : 'not met'}); the gate's Redis calls per refused request: ${(flood.refusalCalls / Math.max(flood.refused, 1)).toFixed(4)}`,
  );
}

// --- 2. PlaceOrder throughput, 1 and 2 gate processes x 1 and 2 workers ------------------------

/** `count` sales of run `run`, each on its own partition of the order topic while they last. */
function salesOf(run: number, count: number): string[] {
  const partitioner = Partitioners.DefaultPartitioner();
  const partitionMetadata = Array.from({ length: partitions }, (_, i) => ({
    partitionErrorCode: 0,
    partitionId: i,
    leader: 1,
    replicas: [1],
    isr: [1],
  }));
  const partitionOf = (sku: string) =>
    partitioner({ topic: 'orders', partitionMetadata, message: { key: sku, value: null } });
  const skus: string[] = [];
  for (let i = 0; skus.length < count; i++) {
    const sku = `SCALE-${String(run)}-${String(i)}`;
    const taken = skus.filter((s) => partitionOf(s) === partitionOf(sku)).length;
    // The first `partitions` sales on distinct partitions, then round robin again.
    if (taken === Math.floor(skus.length / partitions)) skus.push(sku);
  }
  return skus;
}

/** CPU seconds (and counters) of everything measured, at one moment. */
interface Snapshot {
  at: number;
  gates: number;
  primary: number;
  workers: number[];
  redis: number;
  kafka: number;
  postgres: number;
  ghz: number;
  bench: number;
  machine: number;
  persisted: number[];
  /** The gates' Kafka produce requests and the workers' batches, so far. */
  produces: number;
  batches: number;
}

/** One run's system: the gate (primary or single process) and the workers. */
interface System {
  gate: Service;
  gates: number;
  workers: Service[];
}

const persistedMetric = 'fluxgate_worker_orders_persisted_total';
const persistedBy = async (worker: Service) =>
  sumSamples(await metricsPage(worker.opsUrl), persistedMetric);
const placeOrder = { rpc: 'OrderGateService.PlaceOrder', outcome: 'accepted' };
const acceptedByGates = async (system: System) =>
  sumSamples(await metricsPage(system.gate.opsUrl), 'fluxgate_gate_requests_total', placeOrder);
const stackPids = { kafka: stackPid('kafka'), postgres: stackPid('postgres') };

async function snapshot(system: System): Promise<Snapshot> {
  // Each page once: a worker's gives its orders persisted and its batches.
  const [workerPages, gatePage] = await Promise.all([
    Promise.all(system.workers.map((w) => metricsPage(w.opsUrl))),
    metricsPage(system.gate.opsUrl),
  ]);
  const pid = system.gate.child.pid;
  return {
    at: performance.now(),
    gates: processTreeCpuSeconds(pid),
    primary: system.gates > 1 ? processCpuSeconds(pid) : NaN,
    workers: system.workers.map((w) => processTreeCpuSeconds(w.child.pid)),
    redis: await redisCpuSeconds(redis),
    kafka: processTreeCpuSeconds(stackPids.kafka),
    postgres: processTreeCpuSeconds(stackPids.postgres),
    ghz: reapedChildrenCpuSeconds(),
    bench: processCpuSeconds(process.pid),
    machine: machineBusySeconds(),
    persisted: workerPages.map((page) => sumSamples(page, persistedMetric)),
    produces: sumSamples(gatePage, 'fluxgate_gate_kafka_publish_batch_size_count'),
    batches: workerPages.reduce(
      (n, page) => n + sumSamples(page, 'fluxgate_worker_batches_total'),
      0,
    ),
  };
}

/** Waits until the workers have persisted every order the gates accepted (at most `ms`). */
async function drained(system: System, ms = 60_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  const accepted = await acceptedByGates(system);
  while (Date.now() < deadline) {
    const persisted = (await Promise.all(system.workers.map(persistedBy))).reduce(
      (a, b) => a + b,
      0,
    );
    if (persisted >= accepted) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return false;
}

/** Waits until the consumer group is stable with `members` members (each then has partitions). */
async function groupStable(members: number, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const { groups } = await admin.describeGroups([config.workerGroupId]);
    const group = groups[0];
    if (group?.state === 'Stable' && group.members.length === members) return;
    if (Date.now() > deadline)
      throw new Error(
        `consumer group ${config.workerGroupId} not stable with ${String(members)} members within ${String(ms)} ms (${group?.state ?? '?'}, ${String(group?.members.length ?? 0)})`,
      );
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** What one run measured. */
interface Run {
  gates: number;
  workers: number;
  offered: number;
  accepted: number;
  other: Map<string, number>;
  acceptedMs: number[];
  loadSeconds: number;
  persistedPerSecond: number;
  drainSeconds: number;
  drainedAll: boolean;
  rows: number;
  acceptedByGates: number;
  perWorker: number[];
  perGate: number[];
  /** Orders per gate produce request and per worker batch, over the load and the drain. */
  perProduce: number;
  perBatch: number;
  /** CPU seconds over the load and the drain after it. */
  cpu: Omit<Snapshot, 'at' | 'persisted' | 'produces' | 'batches'>;
  windowSeconds: number;
}

async function scaleRun(
  index: number,
  gates: number,
  workerCount: number,
  db: pg.Client,
): Promise<Run> {
  const skus = salesOf(index, sales);
  for (const sku of skus) {
    await loadBenchSale(redis, prefix, sku);
    await insertBenchProduct(db, config.databaseSchema, sku);
  }
  const gatePort = await freePort();
  const gate = spawnService(
    'main-gate',
    {
      ...systemEnv,
      FLUXGATE_GATE_PORT: String(gatePort),
      FLUXGATE_GATE_PROCESSES: String(gates),
    },
    { opsPort: await freePort(), cpus: gateCpus[0], nodeFlags: gateNodeFlags },
  );
  const workers: Service[] = [];
  for (let i = 0; i < workerCount; i++)
    workers.push(spawnService('main-worker', systemEnv, { opsPort: await freePort() }));
  const system: System = { gate, gates, workers };
  try {
    // Under a primary, ready once all its processes serve (its gauge counts them).
    const allServing = async () =>
      gates === 1 ||
      sumSamples(await metricsPage(gate.opsUrl), 'fluxgate_gate_processes') === gates;
    await Promise.all([gate.waitReady(allServing), ...workers.map((w) => w.waitReady())]);
    await groupStable(workerCount);
    if (gates > 1) {
      const children = childPids(gate.child.pid ?? 0);
      children.forEach((pid, i) => pinProcess(pid, gateCpus[i % gateCpus.length] ?? '0'));
    }
    const load = (runSeconds: number, tag: string) =>
      ghzPlaceOrders({
        ghz,
        host: `127.0.0.1:${String(gatePort)}`,
        sku: skus,
        keyPrefix: `${prefix}-${String(index)}${tag}`,
        seconds: runSeconds,
        rate: 0,
        cpu: ghzCpu,
        concurrency,
        connections,
      });
    await load(warmupSeconds, 'w');
    await drained(system);
    const before = await snapshot(system);
    const report = await load(seconds, 'm');
    const loadEnd = await snapshot(system);
    const drainedAll = await drained(system);
    const after = await snapshot(system);

    const persistedInWindow =
      after.persisted.reduce((a, b) => a + b, 0) - before.persisted.reduce((a, b) => a + b, 0);
    const run: Run = {
      gates,
      workers: workerCount,
      offered: 0,
      accepted: 0,
      other: new Map(),
      acceptedMs: [],
      loadSeconds: report.total / 1e9,
      persistedPerSecond:
        (loadEnd.persisted.reduce((a, b) => a + b, 0) -
          before.persisted.reduce((a, b) => a + b, 0)) /
        ((loadEnd.at - before.at) / 1000),
      drainSeconds: (after.at - loadEnd.at) / 1000,
      drainedAll,
      rows: 0,
      acceptedByGates: 0,
      perWorker: after.persisted.map((n, i) => n - (before.persisted[i] ?? 0)),
      perGate: [],
      perProduce: persistedInWindow / (after.produces - before.produces),
      perBatch: persistedInWindow / (after.batches - before.batches),
      cpu: {
        gates: after.gates - before.gates,
        primary: after.primary - before.primary,
        workers: after.workers.map((s, i) => s - (before.workers[i] ?? NaN)),
        redis: after.redis - before.redis,
        kafka: after.kafka - before.kafka,
        postgres: after.postgres - before.postgres,
        ghz: after.ghz - before.ghz,
        bench: after.bench - before.bench,
        machine: after.machine - before.machine,
      },
      windowSeconds: (after.at - before.at) / 1000,
    };
    for (const call of report.details ?? []) {
      run.offered++;
      if (call.status === 'OK') {
        run.accepted++;
        run.acceptedMs.push(call.latency / 1e6);
      } else run.other.set(call.status, (run.other.get(call.status) ?? 0) + 1);
    }
    run.acceptedMs.sort((a, b) => a - b);
    const page = await metricsPage(gate.opsUrl);
    run.acceptedByGates = sumSamples(page, 'fluxgate_gate_requests_total', placeOrder);
    if (gates > 1)
      run.perGate = Array.from({ length: gates }, (_, i) =>
        sumSamples(page, 'fluxgate_gate_requests_total', {
          ...placeOrder,
          gate_process: String(i + 1),
        }),
      );
    run.rows = Number(
      (
        await db.query<{ n: string }>(
          `select count(*) as n from "${config.databaseSchema}".orders where sku = any($1)`,
          [skus],
        )
      ).rows[0]?.n,
    );
    return run;
  } catch (error) {
    for (const service of [gate, ...workers]) console.error(service.output());
    throw error;
  } finally {
    await Promise.all([gate.stop(), ...workers.map((w) => w.stop())]);
  }
}

const share = (parts: readonly number[]) => {
  const total = parts.reduce((a, b) => a + b, 0);
  return parts.length < 2
    ? '-'
    : parts.map((n) => `${((100 * n) / Math.max(total, 1)).toFixed(0)}%`).join('/');
};

if (parts.includes('scale')) {
  console.log(
    `\n2. PlaceOrder throughput: gRPC closed loop, ${String(concurrency)} ghz callers on ${String(connections)} HTTP/2 connections (ghz on CPU ${String(ghzCpu)}), ` +
      `${String(seconds)} s after a ${String(warmupSeconds)} s warm-up; ${String(sales)} sales (the order topic's ${String(partitions)} partitions: ${sales >= partitions ? 'one or more each' : `${String(sales)} of them`}), ` +
      'admission and stock never the limit, every call a new customer',
  );
  console.log(
    `   gates: dist/src/main-gate.js, FLUXGATE_GATE_PROCESSES=N (one port), node ${gateNodeFlags.join(' ')}, process i on CPU i-1 of ${gateCpus.join(',')} (the primary on ${gateCpus[0] ?? '0'}); ` +
      `workers: dist/src/main-worker.js, one consumer group, not pinned; logs at ${systemEnv.FLUXGATE_LOG_LEVEL ?? 'warn'}`,
  );
  const db = new pg.Client({ connectionString: config.databaseUrl });
  await db.connect();
  // The one-shot migration command, its output kept unless it fails (MikroORM logs each step).
  execFileSync(process.execPath, [new URL('../src/main-migrate.js', import.meta.url).pathname], {
    env: systemEnv,
    stdio: 'pipe',
  });
  const results: Run[] = [];
  try {
    for (const [i, { gates, workers }] of runs.entries()) {
      const run = await scaleRun(i, gates, workers, db);
      results.push(run);
      process.stderr.write(
        `  [${((performance.now() - startedAt) / 1000).toFixed(0)} s] ${String(gates)} gate(s), ${String(workers)} worker(s): ${run.accepted.toLocaleString('en-US')} accepted\n`,
      );
    }
  } finally {
    await db.query(`drop schema if exists "${config.databaseSchema}" cascade`);
    await db.end();
    // The group exists only if a worker joined it.
    await admin.deleteGroups([config.workerGroupId]).catch(() => undefined);
  }

  const baseline = results[0];
  console.log(
    '\ngates workers  offered/s  accepted/s  p50 ms  p99 ms  persisted/s  drained in  machine busy  per gate process  per worker  orders/produce  orders/batch  rows = accepted  other',
  );
  for (const r of results) {
    const others = [...r.other].map(([k, v]) => `${String(v)} ${k}`).join(', ') || '-';
    console.log(
      [
        fmt(r.gates, 0, 5),
        fmt(r.workers, 0, 7),
        fmt(r.offered / r.loadSeconds, 0, 10),
        fmt(r.accepted / r.loadSeconds, 0, 11),
        fmt(percentile(r.acceptedMs, 50), 1, 7),
        fmt(percentile(r.acceptedMs, 99), 1, 7),
        fmt(r.persistedPerSecond, 0, 12),
        `${r.drainSeconds.toFixed(1)} s${r.drainedAll ? '' : '!'}`.padStart(11),
        `${fmt((100 * r.cpu.machine) / (r.windowSeconds * cores), 0, 11)}%`,
        share(r.perGate).padStart(17),
        share(r.perWorker).padStart(11),
        fmt(r.perProduce, 1, 15),
        fmt(r.perBatch, 1, 13),
        (r.rows === r.acceptedByGates
          ? 'yes'
          : `no: ${String(r.rows)} of ${String(r.acceptedByGates)}`
        ).padStart(16),
        ` ${others}`,
      ].join(' '),
    );
  }
  console.log(
    'persisted/s: orders the workers recorded during the load (their /metrics); drained in: from the end of the load until they had recorded every order the gates accepted (! not within a minute);' +
      " orders/produce and orders/batch: orders per Kafka produce request of the gates and per batch of the workers (a partition's share of a fetch);" +
      " rows = accepted: the rows in PostgreSQL against the gates' accepted count, after the drain",
  );

  /** One CPU table: µs per request, `per` picking offered or accepted. */
  const cpuTable = (title: string, per: (r: Run) => number) => {
    console.log(`\nCPU µs per ${title}, over the load and the drain after it`);
    console.log(
      'gates workers     gates  (primary)  worker 1  worker 2     Redis     Kafka  PostgreSQL  = system       ghz      rest   machine',
    );
    for (const r of results) {
      const us = (s: number) => (s * 1e6) / Math.max(per(r), 1);
      const workers = r.cpu.workers.reduce((a, b) => a + b, 0);
      const system = r.cpu.gates + workers + r.cpu.redis + r.cpu.kafka + r.cpu.postgres;
      const rest = r.cpu.machine - system - r.cpu.ghz - r.cpu.bench;
      console.log(
        [
          fmt(r.gates, 0, 5),
          fmt(r.workers, 0, 7),
          fmt(us(r.cpu.gates), 0, 9),
          `(${fmt(us(r.cpu.primary), 0, 0)})`.padStart(10),
          fmt(us(r.cpu.workers[0] ?? NaN), 0, 9),
          fmt(us(r.cpu.workers[1] ?? NaN), 0, 9),
          fmt(us(r.cpu.redis), 0, 9),
          fmt(us(r.cpu.kafka), 0, 9),
          fmt(us(r.cpu.postgres), 0, 11),
          fmt(us(system), 0, 9),
          fmt(us(r.cpu.ghz), 0, 9),
          fmt(us(rest), 0, 9),
          fmt(us(r.cpu.machine), 0, 9),
        ].join(' '),
      );
    }
  };
  if (results.every((r) => r.offered === r.accepted))
    cpuTable(
      'offered request (every call was accepted: the same per accepted request)',
      (r) => r.offered,
    );
  else {
    cpuTable('accepted request', (r) => r.accepted);
    cpuTable('offered request', (r) => r.offered);
  }
  console.log(
    'system: gates + workers + Redis + Kafka + PostgreSQL; rest: the machine less the system, ghz and this script (other work on the machine, the kernel)',
  );

  if (baseline !== undefined && results.length > 1) {
    console.log(
      `\nratio to ${String(baseline.gates)} gate / ${String(baseline.workers)} worker     accepted/s  persisted/s   p50   p99   CPU per accepted: gates  workers  Redis  Kafka  PostgreSQL  system  machine`,
    );
    const cpuOf = (r: Run) => {
      const workers = r.cpu.workers.reduce((a, b) => a + b, 0);
      const perAccepted = (s: number) => s / Math.max(r.accepted, 1);
      return {
        gates: perAccepted(r.cpu.gates),
        workers: perAccepted(workers),
        redis: perAccepted(r.cpu.redis),
        kafka: perAccepted(r.cpu.kafka),
        postgres: perAccepted(r.cpu.postgres),
        system: perAccepted(r.cpu.gates + workers + r.cpu.redis + r.cpu.kafka + r.cpu.postgres),
        machine: perAccepted(r.cpu.machine),
      };
    };
    const base = cpuOf(baseline);
    const ratio = (a: number, b: number, width: number) => fmt(a / b, 2, width);
    for (const r of results.slice(1)) {
      const c = cpuOf(r);
      console.log(
        [
          `${String(r.gates)} gate${r.gates > 1 ? 's' : ''}, ${String(r.workers)} worker${r.workers > 1 ? 's' : ''}`.padEnd(
            27,
          ),
          ratio(r.accepted / r.loadSeconds, baseline.accepted / baseline.loadSeconds, 10),
          ratio(r.persistedPerSecond, baseline.persistedPerSecond, 12),
          ratio(percentile(r.acceptedMs, 50), percentile(baseline.acceptedMs, 50), 5),
          ratio(percentile(r.acceptedMs, 99), percentile(baseline.acceptedMs, 99), 5),
          ratio(c.gates, base.gates, 24),
          ratio(c.workers, base.workers, 8),
          ratio(c.redis, base.redis, 6),
          ratio(c.kafka, base.kafka, 6),
          ratio(c.postgres, base.postgres, 11),
          ratio(c.system, base.system, 7),
          ratio(c.machine, base.machine, 8),
        ].join(' '),
      );
    }
  }
}

// Leave Redis and Kafka as we found them: the gates created their topics under the run's prefix.
await dropBenchKeys(redis, prefix);
redis.disconnect();
const topics = createTopics(config.topicPrefix);
await admin
  .deleteTopics({ topics: [topics.orders, topics.orderStatus, topics.deadLetter] })
  .catch(() => undefined);
await admin.disconnect();
console.log(`\n(${((performance.now() - startedAt) / 1000).toFixed(0)} s in all)`);
