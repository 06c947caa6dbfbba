/** Measuring helpers the benchmarks share. */
import { Cluster } from 'ioredis';
import { readdirSync, readFileSync } from 'node:fs';
import { masters, type RedisClient } from '../src/redis/client.js';

/** The `p`th percentile of ascending `sorted` (NaN when empty). */
export const percentile = (sorted: readonly number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;

/** CPU seconds Redis has used so far (INFO cpu, main and background threads; every node of a cluster). */
export async function redisCpuSeconds(redis: RedisClient): Promise<number> {
  const nodes = redis instanceof Cluster ? redis.nodes('all') : [redis];
  let seconds = 0;
  for (const node of nodes) {
    const info = await node.info('cpu');
    const field = (name: string) => Number(new RegExp(`${name}:([0-9.]+)`).exec(info)?.[1] ?? NaN);
    seconds += field('used_cpu_sys') + field('used_cpu_user');
  }
  return seconds;
}

/**
 * Commands Redis has run so far (INFO commandstats; a cluster's masters): all kinds together,
 * or only `command`'s.
 */
export async function redisCommandCalls(redis: RedisClient, command?: string): Promise<number> {
  const pattern = new RegExp(`^cmdstat_${command ?? '[^:]+'}:calls=(\\d+)`, 'gm');
  let calls = 0;
  for (const node of masters(redis)) {
    const info = await node.info('commandstats');
    for (const match of info.matchAll(pattern)) calls += Number(match[1]);
  }
  return calls;
}

/**
 * The fields of /proc/`pid`/stat after the command name (which may hold spaces): utime, stime,
 * cutime and cstime are the 12th to 15th of them, the parent's pid the 2nd. Undefined when the
 * process is gone.
 */
function procStat(pid: number | 'self'): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${String(pid)}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** Clock ticks per second of /proc's CPU times (USER_HZ: 100 on Linux). */
const ticks = 100;

/** CPU seconds (user + system) process `pid` has used so far, from /proc (NaN elsewhere). */
export function processCpuSeconds(pid: number | undefined): number {
  if (pid === undefined || process.platform !== 'linux') return NaN;
  const fields = procStat(pid);
  if (fields === undefined) return NaN;
  return (Number(fields[11]) + Number(fields[12])) / ticks;
}

/** The pids of the live children of process `pid` (Linux; empty elsewhere). */
export function childPids(pid: number): number[] {
  if (process.platform !== 'linux') return [];
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .filter((child) => procStat(child)?.[1] === String(pid))
    .sort((a, b) => a - b);
}

/**
 * CPU seconds process `pid` and all its descendants have used so far: its own, its exited
 * children's (cutime and cstime, once reaped) and each live descendant's, so a window's delta
 * counts a child that came or went meanwhile too (the cluster primary and its gate processes,
 * PostgreSQL's postmaster and its backends). NaN when `pid` is gone or unknown.
 */
export function processTreeCpuSeconds(pid: number | undefined): number {
  if (pid === undefined || process.platform !== 'linux') return NaN;
  const fields = procStat(pid);
  if (fields === undefined) return NaN;
  const own = [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i]), 0) / ticks;
  return childPids(pid).reduce((sum, child) => sum + (processTreeCpuSeconds(child) || 0), own);
}

/**
 * CPU seconds this process's exited and reaped children have used (cutime + cstime): a load
 * generator run to its end (ghz) adds its whole CPU here once it has exited.
 */
export function reapedChildrenCpuSeconds(): number {
  const fields = procStat('self');
  if (fields === undefined) return NaN;
  return (Number(fields[13]) + Number(fields[14])) / ticks;
}

/** CPU seconds the whole machine has been busy so far, all cores together (/proc/stat). */
export function machineBusySeconds(): number {
  if (process.platform !== 'linux') return NaN;
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  // cpu  user nice system idle iowait irq softirq steal guest guest_nice (guest is in user)
  const [user, nice, system, , , irq, softirq, steal] = line
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  return (
    [user, nice, system, irq, softirq, steal].reduce<number>((s, x) => s + (x ?? 0), 0) / ticks
  );
}

/**
 * Sends `total` calls at `rate` per second on a fixed schedule, never waiting for an answer
 * before the next send (open loop), and tells `onAnswer` each outcome with its latency in ms,
 * and `onSend`, if given, how many ms after its scheduled time each call went out (a generator
 * that falls behind its schedule is measuring itself). Resolves, once every call has answered,
 * to the seconds since the first scheduled send.
 */
export async function openLoop<T>(
  rate: number,
  total: number,
  send: () => Promise<T>,
  onAnswer: (outcome: T, ms: number) => void,
  onSend?: (lateMs: number) => void,
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
    onSend?.(performance.now() - from);
    calls.push(
      send().then((outcome) => {
        onAnswer(outcome, performance.now() - from);
      }),
    );
  }
  await Promise.all(calls);
  return (performance.now() - start) / 1000;
}

/**
 * CPU of a gate, Redis and the Kafka broker, each process from its own CPU time: seconds used
 * so far ({@link componentCpuSeconds}) or µs per call ({@link cpuPerCall}).
 */
export interface ComponentCpu {
  gate: number;
  redis: number;
  kafka: number;
}

/** No CPU: a run that has not been measured yet. */
export const noCpu: ComponentCpu = { gate: 0, redis: 0, kafka: 0 };

/** CPU seconds used so far by the gate `gatePid`, Redis (every node) and the broker's process tree. */
export async function componentCpuSeconds(
  gatePid: number | undefined,
  redis: RedisClient,
  kafkaPid: number | undefined,
): Promise<ComponentCpu> {
  return {
    gate: processCpuSeconds(gatePid),
    redis: await redisCpuSeconds(redis),
    kafka: processTreeCpuSeconds(kafkaPid),
  };
}

/** CPU µs per call from two {@link componentCpuSeconds} readings and the calls between them. */
export function cpuPerCall(before: ComponentCpu, after: ComponentCpu, calls: number): ComponentCpu {
  const us = (s: number) => (s * 1e6) / Math.max(calls, 1);
  return {
    gate: us(after.gate - before.gate),
    redis: us(after.redis - before.redis),
    kafka: us(after.kafka - before.kafka),
  };
}
