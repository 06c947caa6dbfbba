/** The sale the gate benchmarks sell from: open for an hour, stock and admission never the limit. */
import type { Redis } from 'ioredis';
import { createKeys } from '../src/redis/keys.js';
import { loadSale } from '../src/redis/sale-store.js';

/** Units of the benchmark sale: more than any run sells. */
const units = 100_000_000;

/** Loads the benchmark sale `sku` under the Redis key `prefix`. */
export async function loadBenchSale(redis: Redis, prefix: string, sku: string): Promise<void> {
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
      admissionRate: 1_000_000,
      admissionBurst: 1_000_000,
      paused: false,
    },
    units,
  );
}
