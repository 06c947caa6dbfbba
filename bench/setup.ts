/**
 * What the gate benchmarks share: the environment of their server processes (a Redis key prefix
 * and topics of their own), the sale they sell from (open for an hour, stock and admission
 * never the limit), the benchmark gate, the compiled gate and worker as child processes, and
 * where the local stack's servers run.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type pg from 'pg';
import { loadConfig, type Config } from '../src/config.js';
import { connectRedis, masters, type RedisClient } from '../src/redis/client.js';
import { createKeys } from '../src/redis/keys.js';
import { loadSale } from '../src/redis/sale-store.js';

/** Units of the benchmark sale: more than any run sells. */
const units = 100_000_000;

/**
 * Loads the benchmark sale `sku` under the Redis key `prefix`: by default admission and stock
 * are never the limit; `stock` 0 gives a sold-out sale.
 */
export async function loadBenchSale(
  redis: RedisClient,
  prefix: string,
  sku: string,
  admission: { readonly rate: number; readonly burst: number } = {
    rate: 1_000_000,
    burst: 1_000_000,
  },
  stock = units,
): Promise<void> {
  const now = Date.now();
  await loadSale(
    redis,
    createKeys(prefix),
    {
      sku,
      name: 'benchmark',
      totalStock: Math.max(stock, 1),
      perCustomerLimit: 1_000_000,
      startsAtMs: now - 1000,
      endsAtMs: now + 3_600_000,
      admissionRate: admission.rate,
      admissionBurst: admission.burst,
      paused: false,
      preQueueLottery: false,
    },
    stock,
  );
}

/**
 * The benchmark sale's product row in PostgreSQL schema `schema` (the worker decides each order
 * against its stock), as many units as {@link loadBenchSale} loads.
 */
export async function insertBenchProduct(
  db: pg.Client,
  schema: string,
  sku: string,
): Promise<void> {
  await db.query(
    `insert into "${schema}".product (sku, name, stock, total_stock, per_customer_limit, starts_at, ends_at, admission_rate, admission_burst)
     values ($1, 'benchmark', $2, $3, 1000000, now(), now() + interval '1 hour', 1000000, 1000000)`,
    [sku, units, units],
  );
}

/**
 * Deletes every Redis key under `prefix`: a run leaves an idempotency entry per accepted order
 * (24 h TTL), whose AOF rewrites would slow every later run on the machine.
 */
export async function dropBenchKeys(redis: RedisClient, prefix: string): Promise<void> {
  for (const node of masters(redis)) {
    for await (const batch of node.scanStream({
      match: `${prefix}:*`,
      count: 1000,
    }) as AsyncIterable<string[]>) {
      // One UNLINK per key: a cluster node refuses one whose keys lie in different slots.
      await Promise.all(batch.map((key) => node.unlink(key)));
    }
  }
}

/** The servers' environment under the key and topic `prefix`, its config, and a Redis client. */
export function benchEnvironment(prefix: string): {
  serverEnv: NodeJS.ProcessEnv;
  config: Config;
  redis: RedisClient;
} {
  const serverEnv = {
    // The load generators open up to 256 connections at once from one address: more than the
    // gate's per-address burst of new connections, which would refuse the rest.
    FLUXGATE_CONNECTION_RATE: '10000',
    FLUXGATE_CONNECTION_BURST: '10000',
    ...process.env,
    FLUXGATE_REDIS_PREFIX: prefix,
    FLUXGATE_TOPIC_PREFIX: `${prefix}.`,
  };
  const config = loadConfig(serverEnv);
  return { serverEnv, config, redis: connectRedis(config) };
}

/** A gate of bench/gate-server.ts in its own process. */
export interface BenchGate {
  readonly url: string;
  /** Its operations port (/metrics). */
  readonly opsUrl: string;
  readonly child: ChildProcess;
  /** SIGTERM, resolved once it has exited. */
  stop(): Promise<void>;
}

/**
 * The benchmark gate's Node flags: the production ones (scripts/start.sh), or
 * BENCH_GATE_NODE_FLAGS when set (space-separated), to compare others in the same script.
 */
function gateNodeFlags(): string[] {
  const flags = process.env.BENCH_GATE_NODE_FLAGS ?? '--max-semi-space-size=32';
  return flags.split(' ').filter(Boolean);
}

/** Starts bench/gate-server.ts with `env`, pinned to `cpu`; resolves once it listens. */
export async function spawnBenchGate(env: NodeJS.ProcessEnv, cpu: number): Promise<BenchGate> {
  const script = new URL('./gate-server.js', import.meta.url).pathname;
  const child = spawn(
    'taskset',
    ['-c', String(cpu), process.execPath, ...gateNodeFlags(), script],
    { env, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const line = await new Promise<string>((resolve) =>
    createInterface({ input: child.stdout }).once('line', resolve),
  );
  const urls = JSON.parse(line) as { gate: string; ops: string };
  return {
    url: urls.gate,
    opsUrl: urls.ops,
    child,
    stop: async () => {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

export { freePort } from '../test/support/processes.js';

/** A compiled service (dist/src/main-gate.js or main-worker.js) in a child process. */
export interface Service {
  readonly child: ChildProcess;
  /** Its operations port (/metrics, /readyz): the cluster primary's for several gate processes. */
  readonly opsUrl: string;
  /** The last 64 KB it wrote to stdout and stderr. */
  output(): string;
  /** Resolves once GET /readyz answers 200 and `ready` (if any) says yes; rejects if it exits. */
  waitReady(ready?: () => Promise<boolean>, timeoutMs?: number): Promise<void>;
  /** SIGTERM, resolved once it has exited. */
  stop(): Promise<void>;
}

/**
 * Starts `dist/src/<script>.js` with `env` and `nodeFlags`, pinned to `cpus` (a taskset list such
 * as "0" or "0,1"; undefined: not pinned), its operations port at `opsPort`.
 */
export function spawnService(
  script: 'main-gate' | 'main-worker',
  env: NodeJS.ProcessEnv,
  options: { opsPort: number; cpus?: string; nodeFlags?: readonly string[] },
): Service {
  const path = new URL(`../src/${script}.js`, import.meta.url).pathname;
  const node = [process.execPath, ...(options.nodeFlags ?? []), path];
  const [command = process.execPath, ...args] =
    options.cpus === undefined || process.platform !== 'linux'
      ? node
      : ['taskset', '-c', options.cpus, ...node];
  const opsVariable =
    script === 'main-gate' ? 'FLUXGATE_GATE_OPS_PORT' : 'FLUXGATE_WORKER_OPS_PORT';
  // taskset execs node: the child's pid is the service's.
  const child = spawn(command, args, {
    env: { ...env, [opsVariable]: String(options.opsPort) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  const append = (chunk: Buffer) => {
    text = (text + chunk.toString()).slice(-65_536);
  };
  child.stdout.on('data', append);
  child.stderr.on('data', append);
  const opsUrl = `http://127.0.0.1:${String(options.opsPort)}`;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    opsUrl,
    output: () => text,
    async waitReady(ready = () => Promise.resolve(true), timeoutMs = 120_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        if (child.exitCode !== null || child.signalCode !== null)
          throw new Error(`${script} exited before it was ready; it wrote:\n${text}`);
        if (Date.now() > deadline)
          throw new Error(`${script} not ready within ${String(timeoutMs)} ms; it wrote:\n${text}`);
        const answered = await fetch(`${opsUrl}/readyz`).then(
          (r) => r.ok,
          () => false,
        );
        if (answered && (await ready())) return;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Pins the running process `pid`, all its threads, to `cpus` (a taskset list; Linux only). */
export function pinProcess(pid: number, cpus: string): void {
  if (process.platform === 'linux')
    execFileSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' });
}

/**
 * The pid of a server of the local stack (scripts/stack.sh, under FLUXGATE_STACK_DIR or .stack):
 * Kafka's JVM, PostgreSQL's postmaster, redis-server. Undefined when it runs elsewhere (compose,
 * another host) or its pid file cannot be read.
 */
export function stackPid(server: 'redis' | 'postgres' | 'kafka'): number | undefined {
  const root = new URL('../..', import.meta.url).pathname; // dist/bench/ -> the repository
  const dir = process.env.FLUXGATE_STACK_DIR ?? join(root, '.stack');
  const file = {
    redis: join(dir, 'redis/redis.pid'),
    postgres: join(dir, 'postgres/data/postmaster.pid'),
    kafka: join(dir, 'kafka/kafka.pid'),
  }[server];
  try {
    const pid = Number(readFileSync(file, 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}
