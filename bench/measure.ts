/** Measuring helpers the benchmarks share. */
import type { Redis } from 'ioredis';
import { readFileSync } from 'node:fs';

/** The `p`th percentile of ascending `sorted` (NaN when empty). */
export const percentile = (sorted: readonly number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;

/** CPU seconds Redis has used so far (INFO cpu, main and background threads). */
export async function redisCpuSeconds(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const field = (name: string) => Number(new RegExp(`${name}:([0-9.]+)`).exec(info)?.[1] ?? NaN);
  return field('used_cpu_sys') + field('used_cpu_user');
}

/** Commands Redis has run so far, all kinds together (INFO commandstats). */
export async function redisCommandCalls(redis: Redis): Promise<number> {
  const info = await redis.info('commandstats');
  let calls = 0;
  for (const match of info.matchAll(/^cmdstat_[^:]+:calls=(\d+)/gm)) calls += Number(match[1]);
  return calls;
}

/** CPU seconds (user + system) process `pid` has used so far, from /proc (NaN elsewhere). */
export function processCpuSeconds(pid: number | undefined): number {
  if (pid === undefined || process.platform !== 'linux') return NaN;
  // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // clock ticks: 100 per second on Linux
}

/**
 * Sends `total` calls at `rate` per second on a fixed schedule, never waiting for an answer
 * before the next send (open loop), and tells `onAnswer` each outcome with its latency in ms.
 * Resolves, once every call has answered, to the seconds since the first scheduled send.
 */
export async function openLoop<T>(
  rate: number,
  total: number,
  send: () => Promise<T>,
  onAnswer: (outcome: T, ms: number) => void,
): Promise<number> {
  const start = performance.now() + 50;
  const calls: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const scheduled = start + (i * 1000) / rate;
    const wait = scheduled - performance.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    // Sent late: count from the schedule, so queueing is not hidden. Sent early (a remainder
    // under 1 ms is not waited for): count from the send, so no latency comes out negative.
    const from = Math.min(scheduled, performance.now());
    calls.push(
      send().then((outcome) => {
        onAnswer(outcome, performance.now() - from);
      }),
    );
  }
  await Promise.all(calls);
  return (performance.now() - start) / 1000;
}
