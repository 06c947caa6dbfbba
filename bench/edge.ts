/**
 * Edge admission benchmark (npm run bench:edge). Prints figures; asserts nothing.
 *
 * A sale with a low admission rate (BENCH_RATE per second, default 20; burst half of it)
 * flooded at ten times that rate over gRPC by ghz (`--async --rps`, on CPU 1) for BENCH_SECONDS
 * (default 10), through 1 and then 2 gate processes (pinned to CPU 0; with two, each gets half
 * the flood from its own ghz). Each gate count runs twice in the same run: leases off
 * (FLUXGATE_ADMISSION_LEASE_MS=0, every request runs the place-order script: the baseline) and
 * leases on (the default). A fresh sale for each, so each starts with a full bucket.
 *
 * Per run: offered, accepted and refused calls per second; refusal and acceptance latency
 * (p50/p99, from ghz); Redis commands per offered request (INFO commandstats: every command
 * Redis ran meanwhile) and per refused request, the latter after taking off what the gates run
 * anyway (measured idle for 2 s first) and what the accepted orders cost (measured by a calm
 * run below the rate on a sale of its own: commands per accepted order); Redis's and the gates'
 * CPU µs per offered request; and, from the gates' own /metrics, the Redis calls they made for
 * refused requests (lease calls and place-order calls that did not accept) per refused request.
 * Then the ratios of leases on to off.
 *
 * Keep the flood within what the gates can answer (about 1,000 calls/s per core here): past
 * that their event loops fall behind, leases arrive after they lapse, and the figures measure
 * the overload, not the admission.
 */
import { ghzBinary, ghzPlaceOrders, type GhzReport } from './ghz.js';
import { percentile, processCpuSeconds, redisCommandCalls, redisCpuSeconds } from './measure.js';
import { benchEnvironment, dropBenchKeys, loadBenchSale, spawnBenchGate } from './setup.js';
import { sample } from '../test/support/metrics.js';

const rate = Number(process.env.BENCH_RATE ?? 20);
const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const prefix = `edge${Date.now().toString(36)}`;
const ghz = ghzBinary();
const { serverEnv, redis } = benchEnvironment(prefix);

interface Figures {
  offered: number;
  accepted: number;
  refused: number;
  other: Map<string, number>;
  acceptedMs: number[];
  refusedMs: number[];
  wallSeconds: number;
  redisCommands: number;
  /** The gates' CPU during the flood, less what they use idle. */
  gateCpuSeconds: number;
  /** Commands left for the refusals: all, less the gates' idle rate and the accepted orders'. */
  refusalCommands: number;
  /** Redis calls the gates made for refused requests: lease calls and scripts that refused. */
  refusalCalls: number;
  redisCpuSeconds: number;
}

/** One flood of `gates` gate processes, leases every `leaseMs` ms (0: off). */
async function flood(gates: number, leaseMs: number, run: number): Promise<Figures> {
  const sku = `EDGE-${String(run)}`;
  await loadBenchSale(redis, prefix, sku, { rate, burst: Math.max(1, rate / 2) });
  const env = { ...serverEnv, FLUXGATE_ADMISSION_LEASE_MS: String(leaseMs) };
  const started = await Promise.all(Array.from({ length: gates }, () => spawnBenchGate(env, 0)));
  const pids = started.map((g) => g.child.pid);
  const cpu = () => pids.reduce<number>((sum, pid) => sum + processCpuSeconds(pid), 0);
  const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  /** ghz at `perGate` calls/s to each gate for `runSeconds`, for `sale`. */
  const load = (sale: string, perGate: number, runSeconds: number) =>
    Promise.all(
      started.map((g) =>
        ghzPlaceOrders({
          ghz,
          host: new URL(g.url).host,
          sku: sale,
          keyPrefix: `${prefix}-${sale}`,
          total: Math.round(perGate * runSeconds),
          rate: Math.max(1, Math.round(perGate)),
          cpu: 1,
        }),
      ),
    );

  // What the gates ask of Redis with no calls at all (relay polls, readiness checks).
  await wait(1000);
  const idleFrom = { commands: await redisCommandCalls(redis), cpu: cpu(), at: performance.now() };
  await wait(2000);
  const idleSeconds = (performance.now() - idleFrom.at) / 1000;
  const idlePerSecond = ((await redisCommandCalls(redis)) - idleFrom.commands) / idleSeconds;
  const idleCpuPerSecond = (cpu() - idleFrom.cpu) / idleSeconds;
  // What an accepted order costs: half the rate, on a sale whose admission is never the limit.
  const calmSku = `${sku}-CALM`;
  await loadBenchSale(redis, prefix, calmSku);
  const calmFrom = { commands: await redisCommandCalls(redis), at: performance.now() };
  const calm = await load(calmSku, rate / 2 / gates, 4);
  const calmSeconds = (performance.now() - calmFrom.at) / 1000;
  const calmAccepted = calm
    .flatMap((r) => r.details ?? [])
    .filter((call) => call.status === 'OK').length;
  const perAccepted =
    ((await redisCommandCalls(redis)) - calmFrom.commands - idlePerSecond * calmSeconds) /
    Math.max(calmAccepted, 1);

  /** The gates' lease calls and place-order script calls so far, from their /metrics. */
  const gateCalls = async () => {
    const pages = await Promise.all(
      started.map((g) => fetch(`${g.opsUrl}/metrics`).then((r) => r.text())),
    );
    const sum = (name: string, labels: Record<string, string> = {}) =>
      pages.reduce((total, page) => total + sample(page, name, labels), 0);
    return (
      sum('fluxgate_gate_admission_lease_calls_total') +
      sum('fluxgate_gate_redis_script_seconds_count', { script: 'placeOrder' })
    );
  };
  const before = {
    calls: await gateCalls(),
    commands: await redisCommandCalls(redis),
    redis: await redisCpuSeconds(redis),
    gates: cpu(),
    at: performance.now(),
  };
  const reports: GhzReport[] = await load(sku, (10 * rate) / gates, seconds);
  const floodSeconds = (performance.now() - before.at) / 1000;
  const figures: Figures = {
    offered: 0,
    accepted: 0,
    refused: 0,
    other: new Map(),
    acceptedMs: [],
    refusedMs: [],
    wallSeconds: Math.max(...reports.map((r) => r.total / 1e9)),
    redisCommands: (await redisCommandCalls(redis)) - before.commands,
    refusalCommands: 0,
    refusalCalls: 0,
    redisCpuSeconds: (await redisCpuSeconds(redis)) - before.redis,
    gateCpuSeconds: cpu() - before.gates - idleCpuPerSecond * floodSeconds,
  };
  for (const call of reports.flatMap((r) => r.details ?? [])) {
    figures.offered++;
    if (call.status === 'OK') {
      figures.accepted++;
      figures.acceptedMs.push(call.latency / 1e6);
    } else if (call.status === 'ResourceExhausted') {
      figures.refused++;
      figures.refusedMs.push(call.latency / 1e6);
    } else figures.other.set(call.status, (figures.other.get(call.status) ?? 0) + 1);
  }
  figures.acceptedMs.sort((a, b) => a - b);
  figures.refusedMs.sort((a, b) => a - b);
  // Each accepted order ran one place-order script.
  figures.refusalCalls = (await gateCalls()) - before.calls - figures.accepted;
  figures.refusalCommands =
    figures.redisCommands - idlePerSecond * floodSeconds - perAccepted * figures.accepted;
  await Promise.all(started.map((g) => g.stop()));
  return figures;
}

const fmt = (x: number, digits = 1, width = 8) => x.toFixed(digits).padStart(width);
const header =
  'gates  leases   offered/s  accepted/s  refused/s  refused p50   p99  accepted p50    p99  Redis cmds/offered  /refused (net)  calls/refused  Redis µs/offered  gate µs/offered  other';
/** One table row. */
function row(gates: number, leaseMs: number, f: Figures): string {
  const per = (x: number) => x / Math.max(f.offered, 1);
  const others = [...f.other].map(([k, v]) => `${String(v)} ${k}`).join(', ') || '-';
  return [
    String(gates).padStart(5),
    (leaseMs === 0 ? 'off' : `${String(leaseMs)} ms`).padStart(7),
    fmt(f.offered / f.wallSeconds, 0, 11),
    fmt(f.accepted / f.wallSeconds, 0, 11),
    fmt(f.refused / f.wallSeconds, 0, 10),
    fmt(percentile(f.refusedMs, 50), 1, 12),
    fmt(percentile(f.refusedMs, 99), 1, 6),
    fmt(percentile(f.acceptedMs, 50), 1, 13),
    fmt(percentile(f.acceptedMs, 99), 1, 6),
    fmt(per(f.redisCommands), 3, 19),
    fmt(f.refusalCommands / Math.max(f.refused, 1), 3, 9),
    fmt(f.refusalCalls / Math.max(f.refused, 1), 4, 10),
    fmt(per(f.redisCpuSeconds) * 1e6, 1, 17),
    fmt(per(f.gateCpuSeconds) * 1e6, 1, 16),
    `  ${others}`,
  ].join(' ');
}

console.log(
  `edge admission benchmark: a sale admitting ${String(rate)}/s (burst ${String(Math.max(1, rate / 2))}), ` +
    `flooded at ${String(10 * rate)}/s for ${String(seconds)} s over gRPC (ghz --async on CPU 1; gates on CPU 0)`,
);
console.log(
  "Redis commands and CPU: everything Redis ran meanwhile (gates, benchmark); per refused request: less the gates' idle" +
    " commands and the accepted orders' (measured before each flood); gate CPU: all gate processes, less their idle CPU",
);
console.log(header);
const leaseMs = Number(serverEnv.FLUXGATE_ADMISSION_LEASE_MS ?? 50) || 50;
let run = 0;
for (const gates of [1, 2]) {
  const off = await flood(gates, 0, run++);
  console.log(row(gates, 0, off));
  const on = await flood(gates, leaseMs, run++);
  console.log(row(gates, leaseMs, on));
  const ratio = (a: number, b: number) => (b === 0 ? NaN : a / b).toFixed(3);
  console.log(
    `       leases on / off: Redis commands per offered request ${ratio(on.redisCommands / on.offered, off.redisCommands / off.offered)}, ` +
      `per refused request (net) ${ratio(on.refusalCommands / on.refused, off.refusalCommands / off.refused)}, ` +
      `gates' Redis calls per refused request ${ratio(on.refusalCalls / on.refused, off.refusalCalls / off.refused)}, ` +
      `Redis CPU per offered request ${ratio(on.redisCpuSeconds / on.offered, off.redisCpuSeconds / off.offered)}, ` +
      `gate CPU per offered request ${ratio(on.gateCpuSeconds / on.offered, off.gateCpuSeconds / off.offered)}`,
  );
}

// Leave Redis as we found it.
await dropBenchKeys(redis, prefix);
redis.disconnect();
