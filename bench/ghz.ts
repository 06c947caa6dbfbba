/** ghz (scripts/go-tool.sh), the gRPC load generator the benchmarks drive PlaceOrder with. */
import { execFile, execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

const root = new URL('../..', import.meta.url).pathname; // dist/bench/ -> the repository

/** The ghz binary, built from the Go module proxy on first use. */
export function ghzBinary(): string {
  return execFileSync('bash', [join(root, 'scripts/go-tool.sh'), 'ghz'], {
    encoding: 'utf8',
  }).trim();
}

/** One call of ghz's JSON report: latency in ns, the gRPC status name, the error message. */
export interface GhzCall {
  readonly latency: number;
  readonly status: string;
  readonly error: string;
}

/** What one ghz run reports: its wall time in ns and every call. */
export interface GhzReport {
  readonly total: number;
  readonly details: readonly GhzCall[] | null;
}

/** A PlaceOrder run: where, for which sale, how many calls, and how they are sent. */
export interface GhzPlaceOrders {
  readonly ghz: string;
  readonly host: string;
  /** The sale; several: the calls go to each in turn. */
  readonly sku: string | readonly string[];
  /** Makes each call's idempotency key (and customer) unique to this run. */
  readonly keyPrefix: string;
  /** How many calls; or, with `seconds` instead, as many as fit in that long. */
  readonly total?: number;
  /** How long to send for (ghz --duration; calls in flight at the end are waited for). */
  readonly seconds?: number;
  /** Calls per second without waiting for answers (`--async --rps`); 0: closed-loop callers. */
  readonly rate: number;
  /** The CPU ghz is pinned to. */
  readonly cpu: number;
  /** Callers (default 64) sharing `connections` HTTP/2 connections (default 4). */
  readonly concurrency?: number;
  readonly connections?: number;
}

/** Runs ghz to the end and returns its report. */
export async function ghzPlaceOrders(run: GhzPlaceOrders): Promise<GhzReport> {
  const order = (sku: string) => ({
    sku,
    quantity: 1,
    customerId: `${run.keyPrefix}-{{.UUID}}`,
    idempotencyKey: `${run.keyPrefix}-{{.UUID}}`,
  });
  // An array: ghz sends a unary call's data round robin, call n the (n mod length)th.
  const data = typeof run.sku === 'string' ? order(run.sku) : run.sku.map(order);
  const length =
    run.seconds === undefined
      ? [`--total=${String(run.total ?? 0)}`]
      : [`--duration=${String(run.seconds)}s`, '--duration-stop=wait'];
  const args = [
    '-c',
    String(run.cpu),
    run.ghz,
    '--insecure',
    '--cpus=1',
    `--import-paths=${join(root, 'proto')},${join(root, 'proto/vendor')}`,
    `--proto=${join(root, 'proto/fluxgate/v1/order_gate.proto')}`,
    '--call=fluxgate.v1.OrderGateService/PlaceOrder',
    `--data=${JSON.stringify(data)}`,
    ...length,
    `--concurrency=${String(run.concurrency ?? 64)}`,
    `--connections=${String(run.connections ?? 4)}`,
    ...(run.rate > 0 ? ['--async', `--rps=${String(run.rate)}`] : []),
    '--format=json',
    run.host,
  ];
  const { stdout } = await promisify(execFile)('taskset', args, {
    encoding: 'utf8',
    maxBuffer: 256 << 20,
  });
  return JSON.parse(stdout) as GhzReport;
}
