/**
 * Redis Cluster and replication benchmark (npm run bench:replication). Prints figures; asserts
 * nothing.
 *
 * One gate process (pinned to CPU 1) takes PlaceOrder over gRPC from ghz (64 closed-loop
 * callers, pinned to CPU 0), BENCH_CALLS calls (default 20,000, after 2,000 to warm up), in
 * three runs on one machine, one after the other:
 * - one Redis server (the stack's), no WAIT: the baseline;
 * - the stack's Redis Cluster (3 masters, 3 replicas), no WAIT;
 * - the cluster with FLUXGATE_REDIS_WAIT_REPLICAS=1: every acceptance waits for a replica
 *   (src/redis/replication.ts).
 * Per run: calls/s, latency p50/p99 (from ghz), the gate's CPU µs per call (/proc), Redis CPU µs
 * per call over every node (INFO cpu; replicas apply what masters write), Redis commands per call
 * over the masters (INFO commandstats, the commands a script runs included), and WAIT calls per call. Then the ratios to the baseline.
 *
 * Everything shares two cores: the cluster's six servers and the baseline's one run beside the
 * gate and ghz, so the figures say what each choice costs here, not what it costs spread out.
 */
import { ghzBinary, ghzPlaceOrders } from './ghz.js';
import { percentile, processCpuSeconds, redisCommandCalls, redisCpuSeconds } from './measure.js';
import { benchEnvironment, dropBenchKeys, loadBenchSale, spawnBenchGate } from './setup.js';
import { connectRedis, masters } from '../src/redis/client.js';

const calls = Number(process.env.BENCH_CALLS ?? 20_000);
const clusterUrl = process.env.FLUXGATE_STACK_REDIS_CLUSTER_URL;
if (clusterUrl === undefined) throw new Error('run through npm run bench:replication');
const prefix = `repl${Date.now().toString(36)}`;
const ghz = ghzBinary();
const { serverEnv, config, redis: setupRedis } = benchEnvironment(prefix);
// Each run connects to its own deployment.
setupRedis.disconnect();

interface Row {
  readonly name: string;
  readonly perSecond: number;
  readonly p50: number;
  readonly p99: number;
  readonly errors: number;
  readonly gateCpuUs: number;
  readonly redisCpuUs: number;
  readonly redisCommands: number;
  readonly waits: number;
}

async function run(name: string, redisUrl: string, waitReplicas: number): Promise<Row> {
  const redis = connectRedis({ redisUrl, redisCluster: false });
  await redis.ping();
  // One ping per master to be sure each connection is up before the counters are read.
  for (const node of masters(redis)) await node.ping();
  // Customer ids and keys take letters, digits and dashes only.
  const slug = name.replaceAll(/\W+/g, '-');
  const sku = `REPL-${slug}`;
  await loadBenchSale(redis, prefix, sku);
  const env = {
    ...serverEnv,
    FLUXGATE_REDIS_URL: redisUrl,
    FLUXGATE_REDIS_WAIT_REPLICAS: String(waitReplicas),
  };
  const gate = await spawnBenchGate(env, 1);
  const host = new URL(gate.url).host;
  try {
    await ghzPlaceOrders({
      ghz,
      host,
      sku,
      keyPrefix: `${slug}-warm`,
      total: 2000,
      rate: 0,
      cpu: 0,
    });
    const cpu0 = await redisCpuSeconds(redis);
    const cmd0 = await redisCommandCalls(redis);
    const wait0 = await redisCommandCalls(redis, 'wait');
    const gate0 = processCpuSeconds(gate.child.pid);
    const report = await ghzPlaceOrders({
      ghz,
      host,
      sku,
      keyPrefix: slug,
      total: calls,
      rate: 0,
      cpu: 0,
    });
    const gate1 = processCpuSeconds(gate.child.pid);
    const cpu1 = await redisCpuSeconds(redis);
    const cmd1 = await redisCommandCalls(redis);
    const wait1 = await redisCommandCalls(redis, 'wait');
    const details = report.details ?? [];
    const ok = details.filter((c) => c.status === 'OK').map((c) => c.latency / 1e6);
    ok.sort((a, b) => a - b);
    return {
      name,
      perSecond: details.length / (report.total / 1e9),
      p50: percentile(ok, 50),
      p99: percentile(ok, 99),
      errors: details.length - ok.length,
      gateCpuUs: ((gate1 - gate0) / details.length) * 1e6,
      redisCpuUs: ((cpu1 - cpu0) / details.length) * 1e6,
      redisCommands: (cmd1 - cmd0) / details.length,
      waits: (wait1 - wait0) / details.length,
    };
  } finally {
    await gate.stop();
    await dropBenchKeys(redis, prefix);
    redis.disconnect();
  }
}

const rows = [
  await run('one Redis server', config.redisUrl, 0),
  await run('cluster, no WAIT', clusterUrl, 0),
  await run('cluster, WAIT 1 replica', clusterUrl, 1),
];

const f = (n: number, digits = 0) => (Number.isFinite(n) ? n.toFixed(digits) : '-');
console.log(
  `\nPlaceOrder, ${String(calls)} calls, 64 closed-loop callers (ghz, CPU 0); gate on CPU 1; 2 cores shared with every server\n`,
);
console.log(
  '| run | calls/s | p50 ms | p99 ms | errors | gate CPU µs/call | Redis CPU µs/call (all nodes) | Redis commands/call (masters) | WAITs/call |',
);
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const r of rows)
  console.log(
    `| ${r.name} | ${f(r.perSecond)} | ${f(r.p50, 2)} | ${f(r.p99, 2)} | ${String(r.errors)} | ${f(r.gateCpuUs)} | ${f(r.redisCpuUs)} | ${f(r.redisCommands, 2)} | ${f(r.waits, 3)} |`,
  );
const [base] = rows as [Row, Row, Row];
console.log('\nRatios to one Redis server:');
for (const r of rows.slice(1))
  console.log(
    `  ${r.name}: calls/s ×${f(r.perSecond / base.perSecond, 2)}, p99 ×${f(r.p99 / base.p99, 2)}, gate CPU ×${f(r.gateCpuUs / base.gateCpuUs, 2)}, Redis CPU ×${f(r.redisCpuUs / base.redisCpuUs, 2)}`,
  );
const [, noWait, withWait] = rows as [Row, Row, Row];
console.log(
  `WAIT 1 against no WAIT on the cluster: calls/s ×${f(withWait.perSecond / noWait.perSecond, 2)}, p50 ×${f(withWait.p50 / noWait.p50, 2)}, p99 ×${f(withWait.p99 / noWait.p99, 2)}, orders per WAIT ${f(1 / withWait.waits, 1)}`,
);
