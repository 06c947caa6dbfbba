/**
 * Overload benchmark (npm run bench:overload). Prints figures; asserts nothing.
 *
 * PlaceOrder over Connect (HTTP/1.1 JSON, as bench:gate sends it) against the gate in a child
 * process pinned to CPU 0, this load generator on CPU 1. Two gates in turn, in one run: first
 * with overload shedding off (the baseline: no bound on orders in flight, the event loop not
 * watched), then with the configured limits (the defaults unless FLUXGATE_MAX_ORDERS_IN_FLIGHT
 * / FLUXGATE_MAX_EVENT_LOOP_DELAY_MS are set). For each: the closed-loop maximum, then open
 * loops at 25 %, 50 %, 100 %, 200 % and 400 % of the baseline's maximum, latency counted from
 * each request's scheduled send time. Per level: goodput (accepted orders per second, and as a
 * share of the maximum), accepted p50/p99, refusals (GATE_OVERLOADED) and their p50/p99, other
 * failures, and the CPU per accepted order of the gate, Redis and the Kafka broker. Under each
 * row, what ran out: the share of a core each of the gate, the load generator, Redis and the
 * broker kept busy, the machine's share of all its cores, and (Connect) how late the sends
 * left against their schedule; then where the time went inside the gate (bench/gate-stages.ts:
 * handler, Redis script, Kafka produce, event-loop delay, GC), to tell a tail made in a stage
 * from one made waiting to be run.
 *
 * Then the same over gRPC, with ghz (scripts/go-tool.sh) as the load generator: its closed-loop
 * maximum (64 callers on 4 connections), then `--async --rps` at the same shares of that maximum.
 * ghz counts latency from each call's actual send; with --async its sends do not wait for
 * answers, so they keep to the schedule while its core keeps up.
 * BENCH_PROTOCOLS=connect or =grpc runs one of the two.
 */
import { randomUUID } from 'node:crypto';
import { cpus } from 'node:os';
import { Pool } from 'undici';

import { stagesLine } from './gate-stages.js';
import { ghzBinary, ghzPlaceOrders } from './ghz.js';
import {
  componentCpuSeconds,
  cpuPerCall,
  machineBusySeconds,
  noCpu,
  openLoop,
  percentile,
  reapedChildrenCpuSeconds,
  type ComponentCpu,
} from './measure.js';
import {
  benchEnvironment,
  dropBenchKeys,
  loadBenchSale,
  spawnBenchGate,
  stackPid,
} from './setup.js';
import { metricsPage } from '../test/support/metrics.js';

const closedSeconds = Number(process.env.BENCH_SECONDS ?? 8);
const openSeconds = Number(process.env.BENCH_OPEN_SECONDS ?? 8);
const levels = (process.env.BENCH_LEVELS ?? '0.25,0.5,1,2,4').split(',').map(Number);
const sku = 'BENCH-1';
const prefix = `overload${Date.now().toString(36)}`;
const path = '/fluxgate.v1.OrderGateService/PlaceOrder';
const protocols = (process.env.BENCH_PROTOCOLS ?? 'connect,grpc').split(',');
const ghz = protocols.includes('grpc') ? ghzBinary() : '';

const { serverEnv, redis } = benchEnvironment(prefix);
await loadBenchSale(redis, prefix, sku);

/** The gate with `env` added to the benchmark's environment, pinned to CPU 0. */
const startGate = (env: NodeJS.ProcessEnv) => spawnBenchGate({ ...serverEnv, ...env }, 0);

let n = 0;
/** One PlaceOrder; resolves to what it came to: `accepted`, `shed`, or the HTTP status. */
async function call(pool: Pool): Promise<string> {
  n++;
  const res = await pool.request({
    method: 'POST',
    path,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      sku,
      quantity: 1,
      customerId: `o${n}`,
      idempotencyKey: `${prefix}-${n}-${randomUUID()}`,
    }),
  });
  const body = await res.body.text();
  if (res.statusCode === 200) return 'accepted';
  return body.includes('GATE_OVERLOADED') ? 'shed' : `HTTP ${res.statusCode}`;
}

/** Accepted orders per second with `concurrency` callers, each calling again once answered. */
async function closedLoop(url: string, concurrency: number, seconds: number): Promise<number> {
  const pool = new Pool(url, { connections: concurrency, pipelining: 1 });
  const end = Date.now() + seconds * 1000;
  let accepted = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < end) {
        if ((await call(pool).catch(() => 'error')) === 'accepted') accepted++;
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  await pool.close();
  return accepted / elapsed;
}

interface Level {
  accepted: number[];
  shed: number[];
  others: Map<string, number>;
  seconds: number;
  /** CPU µs per accepted order of the gate, Redis and the Kafka broker. */
  cpuUs: ComponentCpu;
  /** What ran out: each process's busy share of a core over the level, and the machine's. */
  cores: Cores;
  /** Connect only: how late each send left against its schedule, ms, sorted. */
  lateMs: number[];
}

/** Busy shares of one core (the machine's: of all its cores). */
interface Cores {
  gate: number;
  generator: number;
  redis: number;
  kafka: number;
  machine: number;
}

const kafkaPid = stackPid('kafka');
const noCores: Cores = { gate: 0, generator: 0, redis: 0, kafka: 0, machine: 0 };
const machineCores = cpus().length; // not availableParallelism(): this process is pinned to one

/** CPU seconds so far of the gate `pid`, the load generator, Redis, the broker, the machine. */
async function coreSeconds(pid: number | undefined, generator: () => number): Promise<Cores> {
  const cpu = await componentCpuSeconds(pid, redis, kafkaPid);
  return { ...cpu, generator: generator(), machine: machineBusySeconds() / machineCores };
}

/** Busy shares of a core between two {@link coreSeconds} readings `seconds` apart. */
function coreShares(before: Cores, after: Cores, seconds: number): Cores {
  const share = (k: keyof Cores) => (after[k] - before[k]) / seconds;
  return {
    gate: share('gate'),
    generator: share('generator'),
    redis: share('redis'),
    kafka: share('kafka'),
    machine: share('machine'),
  };
}

/** This process's CPU seconds: the Connect load generator's. */
const ownCpuSeconds = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
};

/** `rate` calls per second for `openSeconds`, on schedule; latency from the scheduled time. */
async function openLevel(url: string, pid: number | undefined, rate: number): Promise<Level> {
  const pool = new Pool(url, { connections: 256, pipelining: 1 });
  const total = Math.round(rate * openSeconds);
  const level: Level = {
    accepted: [],
    shed: [],
    others: new Map(),
    seconds: 0,
    cpuUs: noCpu,
    cores: noCores,
    lateMs: [],
  };
  const before = await coreSeconds(pid, ownCpuSeconds);
  level.seconds = await openLoop(
    rate,
    total,
    () => call(pool).catch(() => 'transport error'),
    (outcome, ms) => {
      if (outcome === 'accepted') level.accepted.push(ms);
      else if (outcome === 'shed') level.shed.push(ms);
      else level.others.set(outcome, (level.others.get(outcome) ?? 0) + 1);
    },
    (late) => level.lateMs.push(late),
  );
  const after = await coreSeconds(pid, ownCpuSeconds);
  level.cpuUs = cpuPerCall(before, after, level.accepted.length);
  level.cores = coreShares(before, after, level.seconds);
  await pool.close();
  level.accepted.sort((a, b) => a - b);
  level.shed.sort((a, b) => a - b);
  level.lateMs.sort((a, b) => a - b);
  return level;
}

/**
 * `total` PlaceOrder calls over gRPC from ghz on CPU 1: at `rate` per second without waiting
 * for answers, or (rate 0) from 64 callers each waiting for its answer.
 */
async function ghzRun(host: string, total: number, rate: number): Promise<Level & { rps: number }> {
  const report = await ghzPlaceOrders({ ghz, host, sku, keyPrefix: prefix, total, rate, cpu: 1 });
  const level: Level & { rps: number } = {
    accepted: [],
    shed: [],
    others: new Map(),
    seconds: report.total / 1e9,
    cpuUs: noCpu,
    cores: noCores,
    lateMs: [],
    rps: 0,
  };
  for (const d of report.details ?? []) {
    if (d.status === 'OK') level.accepted.push(d.latency / 1e6);
    // GATE_OVERLOADED's message; other `unavailable` answers (a dependency) count apart.
    else if (d.status === 'Unavailable' && d.error.includes('overloaded'))
      level.shed.push(d.latency / 1e6);
    else level.others.set(d.status, (level.others.get(d.status) ?? 0) + 1);
  }
  level.accepted.sort((a, b) => a - b);
  level.shed.sort((a, b) => a - b);
  level.rps = level.accepted.length / level.seconds;
  return level;
}

/**
 * {@link ghzRun} with the gate's, Redis's and the broker's CPU per accepted order, and each
 * process's busy share of a core.
 */
async function ghzLevel(host: string, pid: number | undefined, total: number, rate: number) {
  const before = await coreSeconds(pid, reapedChildrenCpuSeconds);
  const level = await ghzRun(host, total, rate);
  // ghz has exited by now, so its whole CPU is among this process's reaped children's.
  const after = await coreSeconds(pid, reapedChildrenCpuSeconds);
  level.cpuUs = cpuPerCall(before, after, level.accepted.length);
  level.cores = coreShares(before, after, level.seconds);
  return level;
}

const fmt = (x: number, digits = 1, width = 7) => x.toFixed(digits).padStart(width);
/** The line under a row that says which core ran out, and how late the sends left. */
function coresLine(r: Level): string {
  const c = r.cores;
  const late =
    r.lateMs.length > 0
      ? `; sends late p50 / p99 ${percentile(r.lateMs, 50).toFixed(1)} / ${percentile(r.lateMs, 99).toFixed(1)} ms`
      : '';
  return `    cores busy: gate ${c.gate.toFixed(2)}, load generator ${c.generator.toFixed(2)}, Redis ${c.redis.toFixed(2)}, Kafka ${c.kafka.toFixed(2)}; machine ${(c.machine * 100).toFixed(0)} % of ${String(machineCores)} cores${late}`;
}
const configurations: [string, NodeJS.ProcessEnv][] = [
  [
    'shedding off',
    { FLUXGATE_MAX_ORDERS_IN_FLIGHT: '1000000', FLUXGATE_MAX_EVENT_LOOP_DELAY_MS: '0' },
  ],
  ['shedding on', {}],
];
const header =
  'offered/s   goodput/s  of max   accepted p50     p99   refused  p50      p99   other            gate µs/order  Redis µs/order  Kafka µs/order';
/** One table row. */
function row(rate: number, r: Level, max: number): string {
  const goodput = r.accepted.length / r.seconds;
  const others = [...r.others].map(([k, v]) => `${v} ${k}`).join(', ') || '-';
  return `${String(rate).padStart(9)} ${fmt(goodput, 0, 11)} ${fmt((goodput / max) * 100, 0, 6)} % ${fmt(percentile(r.accepted, 50), 1, 10)} ${fmt(percentile(r.accepted, 99), 1)} ${String(r.shed.length).padStart(9)} ${fmt(percentile(r.shed, 50), 1, 5)} ${fmt(percentile(r.shed, 99), 1, 8)}   ${others.padEnd(16)} ${fmt(r.cpuUs.gate, 0, 13)} ${fmt(r.cpuUs.redis, 0, 15)} ${fmt(r.cpuUs.kafka, 0, 15)}`;
}

console.log(
  `overload benchmark: PlaceOrder over ${protocols.join(' and ')}; max from 64 callers, then open loop x ${openSeconds}s at ${levels.map((l) => `${l * 100}%`).join(', ')} of the baseline's max`,
);
console.log('gate pinned to CPU 0, load generators to CPU 1 (Redis, Kafka share both)');
const baselineMax = new Map<string, number>();
for (const [name, env] of configurations) {
  const gate = await startGate(env);
  const limits = `orders in flight ≤ ${env.FLUXGATE_MAX_ORDERS_IN_FLIGHT ?? serverEnv.FLUXGATE_MAX_ORDERS_IN_FLIGHT ?? 'default'}, event-loop delay ≤ ${env.FLUXGATE_MAX_EVENT_LOOP_DELAY_MS ?? serverEnv.FLUXGATE_MAX_EVENT_LOOP_DELAY_MS ?? 'default'} ms`;
  if (protocols.includes('connect')) {
    await closedLoop(gate.url, 16, 3); // warm-up, discarded
    const max = await closedLoop(gate.url, 64, closedSeconds);
    const base = baselineMax.get('connect') ?? max;
    baselineMax.set('connect', base);
    console.log(`\nConnect, ${name} (${limits}): max ${max.toFixed(0)} orders/s`);
    console.log(header);
    for (const level of levels) {
      const rate = Math.round(level * base);
      const before = await metricsPage(gate.opsUrl);
      const r = await openLevel(gate.url, gate.child.pid, rate);
      console.log(row(rate, r, base));
      console.log(coresLine(r));
      console.log(stagesLine(before, await metricsPage(gate.opsUrl), r.seconds));
    }
  }
  if (protocols.includes('grpc')) {
    const host = new URL(gate.url).host;
    await ghzRun(host, 3000, 0); // warm-up, discarded
    const max = (await ghzRun(host, 20_000, 0)).rps;
    const base = baselineMax.get('grpc') ?? max;
    baselineMax.set('grpc', base);
    console.log(`\ngRPC (ghz), ${name} (${limits}): max ${max.toFixed(0)} orders/s`);
    console.log(header);
    for (const level of levels) {
      const rate = Math.round(level * base);
      const before = await metricsPage(gate.opsUrl);
      const r = await ghzLevel(host, gate.child.pid, rate * openSeconds, rate);
      console.log(row(rate, r, base));
      console.log(coresLine(r));
      console.log(stagesLine(before, await metricsPage(gate.opsUrl), r.seconds));
    }
  }
  await gate.stop();
}

// Leave Redis as we found it.
await dropBenchKeys(redis, prefix);
redis.disconnect();
