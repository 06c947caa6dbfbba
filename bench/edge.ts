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
import { floodHeader, floodRow, floodSale, leaseMsOf, type FloodSetup } from './edge-flood.js';
import { ghzBinary } from './ghz.js';
import { benchEnvironment, dropBenchKeys } from './setup.js';

const rate = Number(process.env.BENCH_RATE ?? 20);
const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const prefix = `edge${Date.now().toString(36)}`;
const { serverEnv, redis } = benchEnvironment(prefix);
const setup: FloodSetup = { ghz: ghzBinary(), prefix, serverEnv, redis, rate, seconds };

console.log(
  `edge admission benchmark: a sale admitting ${String(rate)}/s (burst ${String(Math.max(1, rate / 2))}), ` +
    `flooded at ${String(10 * rate)}/s for ${String(seconds)} s over gRPC (ghz --async on CPU 1; gates on CPU 0)`,
);
console.log(
  "Redis commands and CPU: everything Redis ran meanwhile (gates, benchmark); per refused request: less the gates' idle" +
    " commands and the accepted orders' (measured before each flood); gate CPU: all gate processes, less their idle CPU",
);
console.log(floodHeader);
const leaseMs = leaseMsOf(serverEnv);
let run = 0;
for (const gates of [1, 2]) {
  const off = await floodSale(setup, gates, 0, run++);
  console.log(floodRow(gates, 0, off));
  const on = await floodSale(setup, gates, leaseMs, run++);
  console.log(floodRow(gates, leaseMs, on));
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
