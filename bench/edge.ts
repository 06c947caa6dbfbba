/**
 * Edge admission benchmark (npm run bench:edge). Prints figures; asserts nothing.
 *
 * A sale with a low admission rate (BENCH_RATE per second, default 200; burst half of it)
 * flooded at ten times that rate over gRPC by ghz (`--async --rps`, on CPU 1) for BENCH_SECONDS
 * (default 10), through 1 and then 2 gate processes (pinned to CPU 0; with two, each gets half
 * the flood from its own ghz). Each gate count runs twice in the same run: leases off
 * (FLUXGATE_ADMISSION_LEASE_MS=0, every request runs the place-order script: the baseline) and
 * leases on (the default). A fresh sale for each, so each starts with a full bucket.
 *
 * Per run: offered, accepted and refused calls per second; refusal and acceptance latency
 * (p50/p99, from ghz); Redis commands per offered and per refused request (INFO commandstats:
 * every command Redis ran meanwhile, the gates' background work included); Redis's and the
 * gates' CPU µs per offered request. Then the ratios of leases on to off.
 */
import { ghzBinary, ghzPlaceOrders, type GhzReport } from './ghz.js';
import { percentile, processCpuSeconds, redisCommandCalls, redisCpuSeconds } from './measure.js';
import { benchEnvironment, loadBenchSale, spawnBenchGate } from './setup.js';

const rate = Number(process.env.BENCH_RATE ?? 200);
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
  redisCpuSeconds: number;
  gateCpuSeconds: number;
}

/** One flood of `gates` gate processes, leases every `leaseMs` ms (0: off). */
async function flood(gates: number, leaseMs: number, run: number): Promise<Figures> {
  const sku = `EDGE-${String(run)}`;
  await loadBenchSale(redis, prefix, sku, { rate, burst: Math.max(1, rate / 2) });
  const env = { ...serverEnv, FLUXGATE_ADMISSION_LEASE_MS: String(leaseMs) };
  const started = await Promise.all(Array.from({ length: gates }, () => spawnBenchGate(env, 0)));
  const pids = started.map((g) => g.child.pid);
  const cpu = () => pids.reduce<number>((sum, pid) => sum + processCpuSeconds(pid), 0);
  const before = {
    commands: await redisCommandCalls(redis),
    redis: await redisCpuSeconds(redis),
    gates: cpu(),
  };
  const perGate = Math.round((10 * rate) / gates);
  const reports: GhzReport[] = await Promise.all(
    started.map((g) =>
      ghzPlaceOrders({
        ghz,
        host: new URL(g.url).host,
        sku,
        keyPrefix: `${prefix}-${String(run)}`,
        total: perGate * seconds,
        rate: perGate,
        cpu: 1,
      }),
    ),
  );
  const figures: Figures = {
    offered: 0,
    accepted: 0,
    refused: 0,
    other: new Map(),
    acceptedMs: [],
    refusedMs: [],
    wallSeconds: Math.max(...reports.map((r) => r.total / 1e9)),
    redisCommands: (await redisCommandCalls(redis)) - before.commands,
    redisCpuSeconds: (await redisCpuSeconds(redis)) - before.redis,
    gateCpuSeconds: cpu() - before.gates,
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
  await Promise.all(started.map((g) => g.stop()));
  return figures;
}

const fmt = (x: number, digits = 1, width = 8) => x.toFixed(digits).padStart(width);
const header =
  'gates  leases   offered/s  accepted/s  refused/s  refused p50   p99  accepted p50    p99  Redis cmds/offered  /refused  Redis µs/offered  gate µs/offered  other';
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
    fmt(f.redisCommands / Math.max(f.refused, 1), 3, 9),
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
  'Redis commands and CPU: everything Redis ran meanwhile (gates, benchmark); gate CPU: all gate processes',
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
      `Redis CPU per offered request ${ratio(on.redisCpuSeconds / on.offered, off.redisCpuSeconds / off.offered)}, ` +
      `gate CPU per offered request ${ratio(on.gateCpuSeconds / on.offered, off.gateCpuSeconds / off.offered)}`,
  );
}

// Leave Redis as we found it (see bench/gate.ts).
for await (const batch of redis.scanStream({ match: `${prefix}:*`, count: 1000 }) as AsyncIterable<
  string[]
>) {
  if (batch.length > 0) await redis.unlink(...batch);
}
redis.disconnect();
