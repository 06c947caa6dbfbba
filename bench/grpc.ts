/**
 * gRPC and Connect benchmark (npm run bench:grpc). Prints figures; asserts nothing.
 *
 * Each target is served by its own child process pinned to CPU 0 (grpc-server.ts); the load
 * generators run on CPU 1, as does this script. gRPC load comes from ghz (scripts/go-tool.sh ghz, from
 * the Go module proxy), Connect and gRPC-Web load from h2load (scripts/h2load.sh, Debian's
 * nghttp2-client) over HTTP/1.1 or cleartext HTTP/2 with one fixed request body. Every target
 * gets the same number of calls after a discarded warm-up; server CPU per call is the child's
 * own user + system time from /proc over the measured run, divided by the successful calls.
 * Redis, PostgreSQL and Kafka run on the same two cores: the gate's PlaceOrder pays for them too.
 *
 * BENCH_TARGETS=name,name (whole names below, or parts of them) runs only those;
 * BENCH_NODE_FLAGS adds flags to the servers (e.g. `--cpu-prof --cpu-prof-dir=DIR`): the
 * measured run's window on the profile clock is then printed for bench/cpu-profile.ts;
 * BENCH_HEAP_PROFILE_DIR=DIR writes a sampling allocation profile of each measured run there.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { create, toBinary } from '@bufbuild/protobuf';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { PlaceOrderRequestSchema } from '../gen/fluxgate/v1/order_gate_pb.js';
import { createTopics } from '../src/kafka/topics.js';

import { percentile, processCpuSeconds } from './measure.js';
import { benchEnvironment, dropBenchKeys, loadBenchSale } from './setup.js';
import type { Drive, Driven, ServerCounters } from './grpc-server.js';

const calls = Number(process.env.BENCH_CALLS ?? 30_000);
const warmupCalls = Number(process.env.BENCH_WARMUP_CALLS ?? 5000);
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 64);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 4);
const root = new URL('../..', import.meta.url).pathname; // dist/bench/ -> the repository
const sku = 'BENCH-1';
/** A sale with no units left: the gate refuses it at the edge once it knows. */
const soldOutSku = 'BENCH-SOLD-OUT';
/** A sale admitting one order a second: its flood is refused at the edge from leased tokens. */
const slowSku = 'BENCH-SLOW';
const prefix = `benchgrpc${Date.now().toString(36)}`;
// The gate's production flag (scripts/start.sh, docker-compose.yml); every Node target shares it.
const nodeFlags = [
  '--max-semi-space-size=32',
  ...(process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean),
];
const pin = (cpu: string, cmd: string[]) =>
  process.platform === 'linux' ? ['taskset', '-c', cpu, ...cmd] : cmd;

const tool = (script: string, ...args: string[]) =>
  execFileSync('bash', [join(root, 'scripts', script), ...args], { encoding: 'utf8' }).trim();
const ghz = tool('go-tool.sh', 'ghz');
const h2load = tool('h2load.sh');
const work = mkdtempSync(join(tmpdir(), 'bench-grpc-'));

type ServerKind =
  | 'raw-http2'
  | 'grpc-js'
  | 'noop'
  | 'bare-h1'
  | 'bare-h2c'
  | 'gate'
  | 'grpc-js-gate'
  | 'bare-h1-gate'
  | 'order-path';

/**
 * A gRPC call from ghz; `data` is ghz's JSON, which may use its templates. `answer` is the
 * status a call is meant to get (ghz's name for it), OK unless said.
 */
interface GhzLoad {
  tool: 'ghz';
  proto: string;
  call: string;
  data: string;
  answer?: string;
}
/** The same HTTP request, over and over, from h2load; `ok` checks one sample response. */
interface H2Load {
  tool: 'h2load';
  http: 'h1' | 'h2c';
  path: string;
  headers: Record<string, string>;
  body: Uint8Array;
  ok: (status: number, body: Buffer) => boolean;
}
/** Orders placed by the target process itself, through the gate's placer (no RPC layer). */
interface SelfLoad {
  tool: 'self';
  sku: string;
}
interface Target {
  name: string;
  server: ServerKind;
  load: GhzLoad | H2Load | SelfLoad;
}

const placeOrder = { sku, quantity: 1, customerId: 'c1', idempotencyKey: 'k1' };
const placeOrderJson = JSON.stringify(placeOrder);
const placeOrderBinary = toBinary(
  PlaceOrderRequestSchema,
  create(PlaceOrderRequestSchema, placeOrder),
);
const enveloped = new Uint8Array(5 + placeOrderBinary.length);
new DataView(enveloped.buffer).setUint32(1, placeOrderBinary.length);
enveloped.set(placeOrderBinary, 5);

const orderGate = {
  proto: 'fluxgate/v1/order_gate.proto',
  call: 'fluxgate.v1.OrderGateService/PlaceOrder',
};
const placeOrderPath = '/fluxgate.v1.OrderGateService/PlaceOrder';
const noopGrpc: GhzLoad = { tool: 'ghz', ...orderGate, data: placeOrderJson };
const connectJson = { 'content-type': 'application/json', 'connect-protocol-version': '1' };
const connectProto = { 'content-type': 'application/proto', 'connect-protocol-version': '1' };
const grpcWeb = { 'content-type': 'application/grpc-web+proto', 'x-grpc-web': '1' };
const http200 = (status: number): boolean => status === 200;
// gRPC-Web answers 200 whatever the outcome: the status is in the trailers frame of the body.
const grpcWebOk = (status: number, body: Buffer) =>
  status === 200 && /grpc-status: ?0\r\n/.test(body.toString('latin1'));
const h2Load = (
  http: 'h1' | 'h2c',
  path: string,
  headers: Record<string, string>,
  body: Uint8Array | string,
  ok: H2Load['ok'] = http200,
): H2Load => ({
  tool: 'h2load',
  http,
  path,
  headers,
  body: typeof body === 'string' ? new TextEncoder().encode(body) : body,
  ok,
});

/**
 * PlaceOrder calls for `saleSku` from ghz, a new customer and idempotency key per call (ghz
 * templates), as bench:gate sends them; `answer`: the status each is meant to get, OK unless said.
 */
const placeOrders = (saleSku: string, answer?: string): GhzLoad => ({
  tool: 'ghz',
  ...orderGate,
  data: JSON.stringify({
    sku: saleSku,
    quantity: 1,
    customerId: 'c{{.UUID}}',
    idempotencyKey: `${prefix}-{{.UUID}}`,
  }),
  ...(answer === undefined ? {} : { answer }),
});

const allTargets: Target[] = [
  { name: 'raw node:http2 fixed response (gRPC)', server: 'raw-http2', load: noopGrpc },
  { name: 'grpc-js no-op (gRPC)', server: 'grpc-js', load: noopGrpc },
  { name: 'project no-op (gRPC)', server: 'noop', load: noopGrpc },
  {
    name: 'project no-op (gRPC-Web HTTP/1.1)',
    server: 'noop',
    load: h2Load('h1', placeOrderPath, grpcWeb, enveloped, grpcWebOk),
  },
  {
    name: 'project no-op (gRPC-Web h2c)',
    server: 'noop',
    load: h2Load('h2c', placeOrderPath, grpcWeb, enveloped, grpcWebOk),
  },
  {
    name: 'project no-op (Connect JSON HTTP/1.1)',
    server: 'noop',
    load: h2Load('h1', placeOrderPath, connectJson, placeOrderJson),
  },
  {
    name: 'project no-op (Connect proto HTTP/1.1)',
    server: 'noop',
    load: h2Load('h1', placeOrderPath, connectProto, placeOrderBinary),
  },
  {
    name: 'project no-op (Connect JSON h2c)',
    server: 'noop',
    load: h2Load('h2c', placeOrderPath, connectJson, placeOrderJson),
  },
  {
    name: 'bare Fastify JSON POST (HTTP/1.1)',
    server: 'bare-h1',
    load: h2Load('h1', '/order', connectJson, placeOrderJson),
  },
  {
    name: 'bare Fastify JSON POST (h2c)',
    server: 'bare-h2c',
    load: h2Load('h2c', '/order', connectJson, placeOrderJson),
  },
  {
    name: 'gate Health/Check (gRPC)',
    server: 'gate',
    load: {
      tool: 'ghz',
      proto: 'vendor/grpc/health/v1/health.proto',
      call: 'grpc.health.v1.Health/Check',
      data: '{}',
    },
  },
  {
    name: 'gate PlaceOrder full path (gRPC)',
    server: 'gate',
    load: placeOrders(sku),
  },
  // The same orders behind the baseline's transport, and without any: what PlaceOrder costs
  // however cheap the Connect layer gets.
  {
    name: 'grpc-js serving the gate PlaceOrder (gRPC)',
    server: 'grpc-js-gate',
    load: placeOrders(sku),
  },
  {
    name: 'bare Fastify serving the gate PlaceOrder (HTTP/1.1)',
    server: 'bare-h1-gate',
    load: h2Load('h1', '/order', connectJson, placeOrderJson),
  },
  {
    name: 'gate order path alone, in process (no RPC)',
    server: 'order-path',
    load: { tool: 'self', sku },
  },
  // Refusals decided without Redis (src/admission/): new keys, as a flash crowd's are. The
  // warm-up's first calls go through the script and put the sale in the gate's memory.
  {
    name: 'gate PlaceOrder sold out, refused at the edge (gRPC)',
    server: 'gate',
    load: placeOrders(soldOutSku, 'FailedPrecondition'),
  },
  {
    name: 'gate PlaceOrder rate-limited, refused at the edge (gRPC)',
    server: 'gate',
    load: placeOrders(slowSku, 'ResourceExhausted'),
  },
];
const only = process.env.BENCH_TARGETS?.split(',').filter(Boolean);
// A name given whole picks that target; any other string, every target whose name holds it.
const picked = (name: string, s: string) =>
  allTargets.some((t) => t.name === s) ? name === s : name.includes(s);
const targets = only ? allTargets.filter((t) => only.some((s) => picked(t.name, s))) : allTargets;

const { serverEnv, config, redis } = benchEnvironment(prefix);
const gateRuns = targets.some((t) =>
  ['gate', 'grpc-js-gate', 'bare-h1-gate', 'order-path'].includes(t.server),
);
if (gateRuns) {
  await loadBenchSale(redis, prefix, sku);
  await loadBenchSale(redis, prefix, soldOutSku, undefined, 0);
  await loadBenchSale(redis, prefix, slowSku, { rate: 1, burst: 1 });
}

/** A running target server and the means to ask it for its counters. */
interface Server {
  url: URL;
  child: ChildProcess;
  counters: () => Promise<ServerCounters>;
  /** Has an order-path target place orders itself. */
  drive: (d: Drive) => Promise<Driven>;
}

async function startServer(kind: ServerKind): Promise<Server> {
  const [command = process.execPath, ...args] = pin('0', [
    process.execPath,
    ...nodeFlags,
    new URL('./grpc-server.js', import.meta.url).pathname,
    kind,
  ]);
  const child = spawn(command, args, {
    env: serverEnv,
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const next = () =>
    new Promise<unknown>((resolve, reject) => {
      child.once('message', resolve);
      child.once('exit', (code) => {
        reject(new Error(`${kind} server exited (${String(code)})`));
      });
    });
  const { url } = (await next()) as { url: string };
  return {
    url: new URL(url),
    child,
    counters: () => {
      const answer = next();
      child.send('counters');
      return answer as Promise<ServerCounters>;
    },
    drive: (d) => {
      const answer = next();
      child.send({ drive: d });
      return answer as Promise<Driven>;
    },
  };
}

async function stopServer(server: Server): Promise<void> {
  const exited = new Promise((resolve) => server.child.once('exit', resolve));
  server.child.kill('SIGTERM');
  await exited;
}

interface LoadResult {
  ok: number;
  errors: number;
  seconds: number;
  p50Ms: number;
  p99Ms: number;
  /** What went wrong, when something did. */
  note: string;
}

interface GhzReport {
  count: number;
  total: number;
  details: { latency: number; status: string }[] | null;
  statusCodeDistribution: Record<string, number> | null;
  errorDistribution: Record<string, number> | null;
}

function runGhz(load: GhzLoad, url: URL, n: number): LoadResult {
  const [command = ghz, ...args] = pin('1', [
    ghz,
    '--insecure',
    `--import-paths=${join(root, 'proto')},${join(root, 'proto/vendor')}`,
    `--proto=${join(root, 'proto', load.proto)}`,
    `--call=${load.call}`,
    `--data=${load.data}`,
    `--total=${n}`,
    `--concurrency=${concurrency}`,
    `--connections=${connections}`,
    '--format=json',
    url.host,
  ]);
  const out = execFileSync(command, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  const report = JSON.parse(out) as GhzReport;
  const answer = load.answer ?? 'OK';
  const ok = report.statusCodeDistribution?.[answer] ?? 0;
  // ghz's own percentiles count only calls answered OK: these are of the calls `answer`ed.
  const latencies = (report.details ?? [])
    .filter((d) => d.status === answer)
    .map((d) => d.latency / 1e6)
    .sort((a, b) => a - b);
  return {
    ok,
    errors: report.count - ok,
    seconds: report.total / 1e9,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    note: Object.entries(report.errorDistribution ?? {})
      .filter(([error]) => !error.includes(`code = ${answer} `))
      .map(([error, count]) => `${count} × ${error}`)
      .join('; '),
  };
}

/**
 * One call of `load`, over the same HTTP version as h2load's, on a connection of its own: a
 * pooled one may have been closed by the server while h2load blocked this process.
 */
async function sampleCall(load: H2Load, target: string): Promise<{ status: number; body: Buffer }> {
  const chunks: Buffer[] = [];
  if (load.http === 'h1') {
    return new Promise((resolve, reject) => {
      const req = http.request(
        target,
        { method: 'POST', headers: load.headers, agent: false },
        (res) => {
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => {
            resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) });
          });
        },
      );
      req.on('error', reject);
      req.end(load.body);
    });
  }
  const url = new URL(target);
  const session = http2.connect(url.origin);
  try {
    return await new Promise((resolve, reject) => {
      const stream = session.request({ ':method': 'POST', ':path': url.pathname, ...load.headers });
      let status = 0;
      stream.on('response', (headers) => {
        status = Number(headers[':status']);
      });
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        resolve({ status, body: Buffer.concat(chunks) });
      });
      stream.on('error', reject);
      stream.end(load.body);
    });
  } finally {
    session.close();
  }
}

async function runH2load(load: H2Load, url: URL, n: number): Promise<LoadResult> {
  const target = new URL(load.path, url).href;
  const bodyFile = join(work, 'body');
  const logFile = join(work, 'h2load.log');
  writeFileSync(bodyFile, load.body);
  rmSync(logFile, { force: true });
  // HTTP/1.1: one call at a time per connection (no pipelining), as browsers do; h2c: streams
  // multiplexed on a few connections, as gRPC clients do.
  const shape =
    load.http === 'h1'
      ? ['--h1', `--clients=${concurrency}`, '--max-concurrent-streams=1']
      : [`--clients=${connections}`, `--max-concurrent-streams=${concurrency / connections}`];
  const [command = h2load, ...args] = pin('1', [
    h2load,
    ...shape,
    `--requests=${n}`,
    `--data=${bodyFile}`,
    ...Object.entries(load.headers).map(([k, v]) => `--header=${k}: ${v}`),
    `--log-file=${logFile}`,
    target,
  ]);
  const out = execFileSync(command, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  const seconds =
    Number(/finished in ([0-9.]+)(m?s)/.exec(out)?.[1] ?? NaN) /
    (/finished in [0-9.]+ms/.test(out) ? 1000 : 1);
  const rows = readFileSync(logFile, 'utf8')
    .trim()
    .split('\n')
    .map((line) => line.split('\t'));
  const latencies = rows
    .filter((r) => r[1] === '200')
    .map((r) => Number(r[2]) / 1000)
    .sort((a, b) => a - b);
  // One sample response, checked the way a client would (gRPC-Web's status is in the body).
  const sample = await sampleCall(load, target);
  const sampleOk = load.ok(sample.status, sample.body);
  return {
    ok: latencies.length,
    errors: n - latencies.length,
    seconds,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    note: sampleOk ? '' : `a sample response was not a success (HTTP ${sample.status})`,
  };
}

interface Figures extends LoadResult {
  rps: number;
  cpuUs: number;
  gcPer1k: number;
  gcShare: number;
  allocKb: number;
}

let drives = 0;
/** Orders placed by the target itself, `concurrency` at a time, as ghz would send them. */
async function runSelf(load: SelfLoad, server: Server, n: number): Promise<LoadResult> {
  const d = await server.drive({
    calls: n,
    concurrency,
    sku: load.sku,
    keyPrefix: `${prefix}-self${String(drives++)}`,
  });
  const errors = Object.values(d.errors).reduce((sum, k) => sum + k, 0);
  return {
    ok: d.ok,
    errors,
    seconds: d.seconds,
    p50Ms: percentile(d.latenciesMs, 50),
    p99Ms: percentile(d.latenciesMs, 99),
    note: Object.entries(d.errors)
      .map(([reason, count]) => `${count} × ${reason}`)
      .join('; '),
  };
}

async function measure(t: Target, server: Server): Promise<Figures> {
  const { load } = t;
  const run = (n: number) =>
    load.tool === 'ghz'
      ? Promise.resolve(runGhz(load, server.url, n))
      : load.tool === 'self'
        ? runSelf(load, server, n)
        : runH2load(load, server.url, n);
  if (warmupCalls > 0) await run(warmupCalls);
  const before = await server.counters();
  const cpu0 = processCpuSeconds(server.child.pid);
  const result = await run(calls);
  const cpu1 = processCpuSeconds(server.child.pid);
  const after = await server.counters();
  if (nodeFlags.some((f) => f.startsWith('--cpu-prof'))) {
    console.log(
      `  profile window (pid ${String(server.child.pid)}): --from-us=${before.monotonicUs} --to-us=${after.monotonicUs}`,
    );
  }
  const perCall = Math.max(result.ok, 1);
  const cpu = cpu1 - cpu0;
  return {
    ...result,
    rps: result.ok / result.seconds,
    cpuUs: (cpu * 1e6) / perCall,
    gcPer1k: (after.gcCount * 1000) / perCall,
    gcShare: after.gcMs / 1000 / cpu,
    allocKb: (after.allocatedBytes - before.allocatedBytes) / 1024 / perCall,
  };
}

const cell = (x: number, digits = 0, width = 8) => x.toFixed(digits).padStart(width);
console.log(
  `gRPC benchmark: ${calls} calls per target after ${warmupCalls} discarded, ${concurrency} concurrent; ` +
    `gRPC (ghz) and h2c (h2load) on ${connections} connections, HTTP/1.1 (h2load) on ${concurrency}`,
);
console.log(
  `each server its own process pinned to CPU 0 (node ${nodeFlags.join(' ')}), load generators on CPU 1; Redis, PostgreSQL, Kafka share both\n`,
);
console.log(
  `${'target'.padEnd(58)} ${'calls/s'.padStart(8)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'CPU µs'.padStart(8)} ${'GC/1k'.padStart(8)} ${'GC %CPU'.padStart(8)} ${'KB/call'.padStart(8)}`,
);
const figures = new Map<string, Figures>();
for (const t of targets) {
  const server = await startServer(t.server);
  try {
    const f = await measure(t, server);
    figures.set(t.name, f);
    const problems = [f.errors > 0 ? `${f.errors} other answers` : '', f.note]
      .filter(Boolean)
      .join('; ');
    console.log(
      `${t.name.padEnd(58)} ${cell(f.rps)} ${cell(f.p50Ms, 2)} ${cell(f.p99Ms, 2)} ${cell(f.cpuUs)} ${cell(f.gcPer1k, 1)} ${cell(f.gcShare * 100, 0)} ${cell(f.allocKb, 1)}${problems ? `   (${problems})` : ''}`,
    );
  } finally {
    await stopServer(server);
  }
}

const get = (name: string) => figures.get(name);
const ratio = (label: string, value: number | undefined, goal: string) => {
  if (value === undefined || Number.isNaN(value)) return;
  console.log(`${label.padEnd(70)} ${value.toFixed(2).padStart(6)}   (goal ${goal})`);
};
const cpuRatio = (a: string, b: string) => {
  const x = get(a);
  const y = get(b);
  return x && y ? x.cpuUs / y.cpuUs : undefined;
};
const rpsRatio = (a: string, b: string) => {
  const x = get(a);
  const y = get(b);
  return x && y ? x.rps / y.rps : undefined;
};
console.log('');
ratio(
  'gRPC: CPU per call, project no-op / grpc-js no-op',
  cpuRatio('project no-op (gRPC)', 'grpc-js no-op (gRPC)'),
  '≤ 1.5; issue 12 measured 4.5',
);
ratio(
  'gRPC: CPU per call, grpc-js no-op / raw node:http2',
  cpuRatio('grpc-js no-op (gRPC)', 'raw node:http2 fixed response (gRPC)'),
  'none: the floor',
);
const full = get('gate PlaceOrder full path (gRPC)');
if (full) {
  console.log(
    `${'gRPC: PlaceOrder full path, calls per second of gate CPU (1e6 / CPU µs)'.padEnd(70)} ${cell(1e6 / full.cpuUs, 0, 6)}   (goal ≥ 3× the figure before the work, on the same machine: docs/performance.md)`,
  );
}
for (const refusal of ['sold out', 'rate-limited']) {
  ratio(
    `gRPC: CPU per call, PlaceOrder ${refusal} at the edge / gate Health/Check`,
    cpuRatio(`gate PlaceOrder ${refusal}, refused at the edge (gRPC)`, 'gate Health/Check (gRPC)'),
    'none: what a refusal adds to an answer',
  );
}
const h1 = 'bare Fastify JSON POST (HTTP/1.1)';
ratio(
  'Connect HTTP/1.1: calls/s, no-op Connect JSON / bare Fastify',
  rpsRatio('project no-op (Connect JSON HTTP/1.1)', h1),
  '≥ 0.5; issue 12 measured 0.21',
);
ratio(
  'Connect HTTP/1.1: calls/s, no-op Connect proto / bare Fastify',
  rpsRatio('project no-op (Connect proto HTTP/1.1)', h1),
  '≥ 0.5',
);
ratio(
  'gRPC-Web HTTP/1.1: calls/s, no-op / bare Fastify',
  rpsRatio('project no-op (gRPC-Web HTTP/1.1)', h1),
  'same treatment',
);
const h2c = 'bare Fastify JSON POST (h2c)';
ratio(
  'Connect h2c: calls/s, no-op Connect JSON / bare Fastify h2c',
  rpsRatio('project no-op (Connect JSON h2c)', h2c),
  'same treatment',
);
ratio(
  'gRPC-Web h2c: calls/s, no-op / bare Fastify h2c',
  rpsRatio('project no-op (gRPC-Web h2c)', h2c),
  'same treatment',
);
console.log(
  '(PlaceOrder over Connect HTTP/1.1 against bare Fastify, goal ≥ 0.35: npm run bench:gate)',
);
// The gate's order path behind the baselines' transports: what PlaceOrder would cost if the
// Connect layer cost no more than they do. No change to that layer gets past these figures.
const grpcJsGate = get('grpc-js serving the gate PlaceOrder (gRPC)');
if (grpcJsGate) {
  console.log(
    `${'gRPC: PlaceOrder served by grpc-js, calls per second of CPU'.padEnd(70)} ${cell(1e6 / grpcJsGate.cpuUs, 0, 6)}   (the gate's goal, ≥ 3× before: 2,721)`,
  );
}
ratio(
  'gRPC: CPU per PlaceOrder, the gate / grpc-js serving its order path',
  cpuRatio('gate PlaceOrder full path (gRPC)', 'grpc-js serving the gate PlaceOrder (gRPC)'),
  'none: the no-op ratio, on a real call',
);
ratio(
  'HTTP/1.1: CPU per call, bare Fastify / bare Fastify serving PlaceOrder',
  cpuRatio(h1, 'bare Fastify serving the gate PlaceOrder (HTTP/1.1)'),
  "none: the most the gate's PlaceOrder / bare Fastify can reach; its goal ≥ 0.35",
);

rmSync(work, { recursive: true, force: true });
// Leave Redis as we found it.
await dropBenchKeys(redis, prefix);
redis.disconnect();
// And Kafka: the gate created its topics under the run's own prefix.
if (gateRuns) {
  const admin = new Kafka({ brokers: config.kafkaBrokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  const topics = createTopics(config.topicPrefix);
  await admin.deleteTopics({ topics: [topics.orders, topics.orderStatus, topics.deadLetter] });
  await admin.disconnect();
}
