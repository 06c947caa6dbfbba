/**
 * Gate benchmark (npm run bench:gate). Prints figures; asserts nothing.
 *
 * Three targets served by one child process pinned to CPU 0 (see gate-server.ts); this load
 * generator runs on CPU 1. Every target gets the same HTTP/1.1 JSON POST of a PlaceOrder
 * (Connect protocol for the gate and the no-op; the same JSON for bare Fastify), so the
 * client's own cost is the same for all three.
 * - closed loop: C concurrent callers, each sending the next request when the last returns,
 *   for D seconds, for each C of a sweep; max throughput is the best of the sweep;
 * - open loop: requests sent on a fixed schedule at R per second; latency is counted from
 *   the scheduled send time, so queueing is not hidden (no coordinated omission).
 * Redis and Kafka run on the same two cores: the full path pays for them too.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import { Pool } from 'undici';

import {
  componentCpuSeconds,
  cpuPerCall,
  openLoop,
  percentile,
  type ComponentCpu,
} from './measure.js';
import { benchEnvironment, dropBenchKeys, loadBenchSale, stackPid } from './setup.js';

const closedSeconds = Number(process.env.BENCH_SECONDS ?? 10);
const openSeconds = Number(process.env.BENCH_OPEN_SECONDS ?? 8);
const concurrencies = (process.env.BENCH_CONCURRENCY ?? '16,64,256').split(',').map(Number);
const rates = (process.env.BENCH_RATES ?? '1000,2000,4000').split(',').filter(Boolean).map(Number);
const sku = 'BENCH-1';
const prefix = `bench${Date.now().toString(36)}`;

const { serverEnv, redis } = benchEnvironment(prefix);
await loadBenchSale(redis, prefix, sku);

const pin = (cpu: string, cmd: string[]) =>
  process.platform === 'linux' ? ['taskset', '-c', cpu, ...cmd] : cmd;
// The gate's production flag (scripts/start.sh, docker-compose.yml); all three targets share it.
const nodeFlags = ['--max-semi-space-size=32'];
const [command = process.execPath, ...args] = pin('0', [
  process.execPath,
  ...nodeFlags,
  new URL('./gate-server.js', import.meta.url).pathname,
]);
const server = spawn(command, args, { env: serverEnv, stdio: ['ignore', 'pipe', 'inherit'] });
const firstLine = await new Promise<string>((resolve) =>
  createInterface({ input: server.stdout }).once('line', resolve),
);
const urls = JSON.parse(firstLine) as { gate: string; noop: string; bare: string };

interface Target {
  name: string;
  url: string;
  path: string;
  body: () => string;
}
let n = 0;
const orderBody = () => {
  n++;
  return JSON.stringify({
    sku,
    quantity: 1,
    customerId: `b${n}`,
    idempotencyKey: `${prefix}-${n}-${randomUUID()}`,
  });
};
const placeOrderPath = '/fluxgate.v1.OrderGateService/PlaceOrder';
const allTargets: Target[] = [
  { name: 'PlaceOrder (full path)', url: urls.gate, path: placeOrderPath, body: orderBody },
  { name: 'no-op Connect unary', url: urls.noop, path: placeOrderPath, body: orderBody },
  { name: 'bare Fastify JSON POST', url: urls.bare, path: '/order', body: orderBody },
];

// BENCH_TARGETS=0,1 runs only those targets (by index), e.g. to profile one of them.
const targets = process.env.BENCH_TARGETS
  ? process.env.BENCH_TARGETS.split(',')
      .map((i) => allTargets[Number(i)])
      .filter((t) => t !== undefined)
  : allTargets;

async function call(pool: Pool, t: Target): Promise<boolean> {
  const res = await pool.request({
    method: 'POST',
    path: t.path,
    headers: { 'content-type': 'application/json' },
    body: t.body(),
  });
  await res.body.text();
  return res.statusCode === 200;
}

interface ClosedRun {
  rps: number;
  errors: number;
  /** Server (as `gate`), Redis and Kafka broker CPU microseconds per successful call. */
  cpuUs: ComponentCpu;
}

const kafkaPid = stackPid('kafka');

/** CPU seconds used so far by the server, Redis and the Kafka broker. */
const cpuSeconds = () => componentCpuSeconds(server.pid, redis, kafkaPid);

async function closedLoop(t: Target, concurrency: number): Promise<ClosedRun> {
  const pool = new Pool(t.url, { connections: concurrency, pipelining: 1 });
  const end = Date.now() + closedSeconds * 1000;
  let ok = 0;
  let errors = 0;
  const before = await cpuSeconds();
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < end) {
        if (await call(pool, t).catch(() => false)) ok++;
        else errors++;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const after = await cpuSeconds();
  await pool.close();
  return { rps: ok / seconds, errors, cpuUs: cpuPerCall(before, after, ok) };
}

async function openLevel(
  t: Target,
  rate: number,
): Promise<{ p50: number; p99: number; errors: number }> {
  const pool = new Pool(t.url, { connections: 256, pipelining: 1 });
  const total = rate * openSeconds;
  const latencies: number[] = [];
  let errors = 0;
  await openLoop(
    rate,
    total,
    () => call(pool, t).catch(() => false),
    (ok, ms) => {
      if (ok) latencies.push(ms);
      else errors++;
    },
  );
  await pool.close();
  latencies.sort((a, b) => a - b);
  return { p50: percentile(latencies, 50), p99: percentile(latencies, 99), errors };
}

const fmt = (x: number, digits = 1) => x.toFixed(digits).padStart(9);
console.log(
  `gate benchmark: closed loop ${concurrencies.join('/')} callers x ${closedSeconds}s; open loop ${rates.join('/')} req/s x ${openSeconds}s`,
);
console.log(
  `server pinned to CPU 0 (node ${nodeFlags.join(' ')}), load generator to CPU 1 (Redis, Kafka share both)\n`,
);
const closed = new Map<string, number>();
for (const t of targets) {
  await closedLoop(t, concurrencies[0] ?? 16); // warm-up pass, discarded
  const runs: string[] = [];
  let best: ClosedRun | undefined;
  for (const c of concurrencies) {
    const run = await closedLoop(t, c);
    if (best === undefined || run.rps > best.rps) best = run;
    runs.push(`c=${c}: ${run.rps.toFixed(0)}${run.errors > 0 ? ` (${run.errors} errors)` : ''}`);
  }
  closed.set(t.name, best?.rps ?? NaN);
  console.log(
    `closed loop  ${t.name.padEnd(24)} max ${fmt(best?.rps ?? NaN, 0)} req/s   CPU per call: server ${fmt(best?.cpuUs.gate ?? NaN, 0)} µs, Redis ${fmt(best?.cpuUs.redis ?? NaN, 0)} µs, Kafka ${fmt(best?.cpuUs.kafka ?? NaN, 0)} µs   [${runs.join(', ')}]`,
  );
}
console.log('');
for (const rate of rates) {
  for (const t of targets) {
    const { p50, p99, errors } = await openLevel(t, rate);
    console.log(
      `open ${String(rate).padStart(5)}/s ${t.name.padEnd(24)} p50 ${fmt(p50, 2)} ms   p99 ${fmt(p99, 2)} ms   errors ${errors}`,
    );
  }
}
const [full = NaN, noop = NaN, bare = NaN] = targets.map((t) => closed.get(t.name) ?? NaN);
console.log(`\nratio PlaceOrder / no-op Connect:  ${(full / noop).toFixed(2)}`);
console.log(`ratio PlaceOrder / bare Fastify:   ${(full / bare).toFixed(2)}`);

server.kill('SIGTERM');
await new Promise((resolve) => server.once('exit', resolve));
// Leave Redis as we found it.
await dropBenchKeys(redis, prefix);
redis.disconnect();
