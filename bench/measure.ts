/** Measuring helpers the benchmarks share. */
import type { Redis } from 'ioredis';

/** The `p`th percentile of ascending `sorted` (NaN when empty). */
export const percentile = (sorted: readonly number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;

/** CPU seconds Redis has used so far (INFO cpu, main and background threads). */
export async function redisCpuSeconds(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const field = (name: string) => Number(new RegExp(`${name}:([0-9.]+)`).exec(info)?.[1] ?? NaN);
  return field('used_cpu_sys') + field('used_cpu_user');
}
