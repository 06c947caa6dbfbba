/**
 * One flood of a sale at ten times its admission rate, through gate processes of
 * bench/gate-server.ts (each pinned to CPU 0, ghz `--async --rps` on CPU 1): what it costs Redis
 * and the gates per offered and per refused request (bench:edge runs it with leases off and on,
 * bench:scale with leases on). Prints nothing; {@link floodHeader} and {@link floodRow} make the
 * table line.
 *
 * Redis commands come from INFO commandstats (every command Redis ran meanwhile, those a Lua
 * script runs included); per refused request they are net of what the gates run idle (measured
 * for 2 s first) and of what the accepted orders cost (a calm run below the rate on a sale of
 * its own, just before: commands per accepted order). The gates' Redis calls for refused
 * requests (lease calls and place-order calls that did not accept) come from their /metrics.
 */
import { ghzPlaceOrders, type GhzReport } from './ghz.js';
import { percentile, processCpuSeconds, redisCommandCalls, redisCpuSeconds } from './measure.js';
import { loadBenchSale, spawnBenchGate } from './setup.js';
import type { RedisClient } from '../src/redis/client.js';
import { metricsPage, sample } from '../test/support/metrics.js';

/** What a flood needs: ghz, the benchmark's key prefix, environment and Redis client. */
export interface FloodSetup {
  readonly ghz: string;
  readonly prefix: string;
  readonly serverEnv: NodeJS.ProcessEnv;
  readonly redis: RedisClient;
  /** The sale's admission rate per second (burst half of it); the flood is ten times that. */
  readonly rate: number;
  /** How long the flood lasts. */
  readonly seconds: number;
}

/** What one flood measured. */
export interface FloodFigures {
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

/** One flood of sale `EDGE-<run>` through `gates` gate processes, leases every `leaseMs` ms (0: off). */
export async function floodSale(
  setup: FloodSetup,
  gates: number,
  leaseMs: number,
  run: number,
): Promise<FloodFigures> {
  const { ghz, prefix, serverEnv, redis, rate, seconds } = setup;
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
    const pages = await Promise.all(started.map((g) => metricsPage(g.opsUrl)));
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
  const figures: FloodFigures = {
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

/** The header of {@link floodRow}'s table. */
export const floodHeader =
  'gates  leases   offered/s  accepted/s  refused/s  refused p50   p99  accepted p50    p99  Redis cmds/offered  /refused (net)  calls/refused  Redis µs/offered  gate µs/offered  other';

/** One table row: a flood through `gates` gates with leases every `leaseMs` ms (0: off). */
export function floodRow(gates: number, leaseMs: number, f: FloodFigures): string {
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

/** The gates' lease interval when leases are on: FLUXGATE_ADMISSION_LEASE_MS, else 50 ms. */
export function leaseMsOf(serverEnv: NodeJS.ProcessEnv): number {
  return Number(serverEnv.FLUXGATE_ADMISSION_LEASE_MS ?? 50) || 50;
}
