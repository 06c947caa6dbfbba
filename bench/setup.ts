/**
 * What the gate benchmarks share: the environment of their server processes (a Redis key prefix
 * and topics of their own) and the sale they sell from (open for an hour, stock and admission
 * never the limit).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import { loadConfig, type Config } from '../src/config.js';
import { createKeys } from '../src/redis/keys.js';
import { loadSale } from '../src/redis/sale-store.js';

/** Units of the benchmark sale: more than any run sells. */
const units = 100_000_000;

/** Loads the benchmark sale `sku` under the Redis key `prefix` (admission never the limit). */
export async function loadBenchSale(
  redis: Redis,
  prefix: string,
  sku: string,
  admission: { readonly rate: number; readonly burst: number } = {
    rate: 1_000_000,
    burst: 1_000_000,
  },
): Promise<void> {
  const now = Date.now();
  await loadSale(
    redis,
    createKeys(prefix),
    {
      sku,
      name: 'benchmark',
      totalStock: units,
      perCustomerLimit: 1_000_000,
      startsAtMs: now - 1000,
      endsAtMs: now + 3_600_000,
      admissionRate: admission.rate,
      admissionBurst: admission.burst,
      paused: false,
    },
    units,
  );
}

/**
 * Deletes every Redis key under `prefix`: a run leaves an idempotency entry per accepted order
 * (24 h TTL), whose AOF rewrites would slow every later run on the machine.
 */
export async function dropBenchKeys(redis: Redis, prefix: string): Promise<void> {
  for await (const batch of redis.scanStream({
    match: `${prefix}:*`,
    count: 1000,
  }) as AsyncIterable<string[]>) {
    if (batch.length > 0) await redis.unlink(...batch);
  }
}

/** The servers' environment under the key and topic `prefix`, its config, and a Redis client. */
export function benchEnvironment(prefix: string): {
  serverEnv: NodeJS.ProcessEnv;
  config: Config;
  redis: Redis;
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
  return { serverEnv, config, redis: new Redis(config.redisUrl) };
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

/** Starts bench/gate-server.ts with `env`, pinned to `cpu`; resolves once it listens. */
export async function spawnBenchGate(env: NodeJS.ProcessEnv, cpu: number): Promise<BenchGate> {
  const script = new URL('./gate-server.js', import.meta.url).pathname;
  const child = spawn(
    'taskset',
    ['-c', String(cpu), process.execPath, '--max-semi-space-size=32', script],
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
