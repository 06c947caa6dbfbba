/**
 * What the outbox's durability costs per order: the Redis side of accepting one order (the
 * reservation script, the live record, the completion) run against the real Redis with AOF
 * `appendfsync everysec` (the stack's setting) and `always`, alternated twice in one run.
 *
 * With `everysec` an order accepted from the outbox (broker down or slow) survives a Redis
 * process crash but not a host crash within about a second; `always` makes Redis fsync before
 * it answers. Prints orders/s, latency per order and Redis CPU per order for each, and the
 * ratios of `always` to `everysec`.
 */
import { Redis } from 'ioredis';
import { loadConfig } from '../src/config.js';
import { fingerprintOf, hashIdempotencyKey } from '../src/idempotency/fingerprint.js';
import { createKeys } from '../src/redis/keys.js';
import { createRedisOrderStore } from '../src/redis/order-store.js';
import { createRedisReservationStore } from '../src/redis/reservation-store.js';
import { registerScripts } from '../src/redis/scripts.js';
import { percentile, redisCpuSeconds } from './measure.js';
import { loadBenchSale } from './setup.js';

const orders = Number(process.env.BENCH_ORDERS ?? 20_000);
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 64);
const prefix = `bench-durability-${String(process.pid)}`;
const sku = 'DURABLE';

const config = loadConfig(process.env);
const redis = new Redis(config.redisUrl, { enableAutoPipelining: true });
registerScripts(redis);
const keys = createKeys(prefix);
const store = createRedisReservationStore(redis, keys, {
  idempotencyTtlMs: 600_000,
  customerRate: 1_000_000,
  customerBurst: 1_000_000,
  outboxMaxEntries: 100_000_000,
  outboxMaxAgeMs: 3_600_000,
  queueTurnMs: config.queueTurnMs,
});
const records = createRedisOrderStore(redis, keys, 600_000);

interface Run {
  readonly mode: string;
  readonly perSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly redisUs: number;
}

/** Accepts `orders` orders, `concurrency` at a time, as the gate does on Redis. */
async function run(mode: 'everysec' | 'always', round: number): Promise<Run> {
  await redis.config('SET', 'appendfsync', mode);
  const latencies: number[] = [];
  let next = 0;
  const cpu0 = await redisCpuSeconds(redis);
  const started = performance.now();
  const worker = async () => {
    for (let i = next++; i < orders; i = next++) {
      const request = {
        sku,
        quantity: 1,
        customerId: `c${String(i % 1000)}`,
        idempotencyKey: `${mode}-${String(round)}-${String(i)}`,
      };
      const order = {
        orderId: `00000000-0000-7000-8000-${String(round * orders + i).padStart(12, '0')}`,
        sku,
        quantity: 1,
        customerId: request.customerId,
        idempotencyKeyHash: hashIdempotencyKey(request.customerId, request.idempotencyKey),
        acceptedAtMs: Date.now(),
        requestId: 'bench',
      };
      const t0 = performance.now();
      const outcome = await store.reserve(order, fingerprintOf(request));
      if (outcome.kind !== 'reserved') throw new Error(`not reserved: ${outcome.kind}`);
      await records.remember(order);
      await store.complete([outcome.reservation]);
      latencies.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (performance.now() - started) / 1000;
  const cpu1 = await redisCpuSeconds(redis);
  latencies.sort((a, b) => a - b);
  return {
    mode,
    perSecond: orders / seconds,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    redisUs: ((cpu1 - cpu0) * 1e6) / orders,
  };
}

const original = await redis.config('GET', 'appendfsync');
try {
  await loadBenchSale(redis, prefix, sku);
  const runs: Run[] = [];
  for (const round of [1, 2])
    for (const mode of ['everysec', 'always'] as const) runs.push(await run(mode, round));

  const fmt = (x: number, digits = 1) => x.toFixed(digits).padStart(10);
  console.log(
    `Redis side of accepting one order (script + record + completion), ${String(orders)} orders, ${String(concurrency)} at a time`,
  );
  console.log('appendfsync   orders/s   p50 ms   p99 ms   Redis CPU µs/order');
  for (const r of runs)
    console.log(
      `${r.mode.padEnd(10)}${fmt(r.perSecond, 0)}${fmt(r.p50Ms, 2)}${fmt(r.p99Ms, 2)}${fmt(r.redisUs)}`,
    );
  const mean = (mode: string, pick: (r: Run) => number) => {
    const of = runs.filter((r) => r.mode === mode).map(pick);
    return of.reduce((a, b) => a + b, 0) / of.length;
  };
  const ratio = (pick: (r: Run) => number) =>
    (mean('always', pick) / mean('everysec', pick)).toFixed(2);
  console.log(
    `always / everysec: orders/s ${ratio((r) => r.perSecond)}, p50 ${ratio((r) => r.p50Ms)}, p99 ${ratio((r) => r.p99Ms)}, Redis CPU ${ratio((r) => r.redisUs)}`,
  );
} finally {
  await redis.config('SET', 'appendfsync', original[1] ?? 'everysec');
  const left = await redis.keys(`${prefix}:*`);
  for (let i = 0; i < left.length; i += 1000) await redis.del(...left.slice(i, i + 1000));
  redis.disconnect();
}
