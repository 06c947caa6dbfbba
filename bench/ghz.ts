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
  readonly sku: string;
  /** Makes each call's idempotency key (and customer) unique to this run. */
  readonly keyPrefix: string;
  readonly total: number;
  /** Calls per second without waiting for answers (`--async --rps`); 0: 64 closed-loop callers. */
  readonly rate: number;
  /** The CPU ghz is pinned to. */
  readonly cpu: number;
}

/** Runs ghz to the end and returns its report. */
export async function ghzPlaceOrders(run: GhzPlaceOrders): Promise<GhzReport> {
  const data = {
    sku: run.sku,
    quantity: 1,
    customerId: `${run.keyPrefix}-{{.UUID}}`,
    idempotencyKey: `${run.keyPrefix}-{{.UUID}}`,
  };
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
    `--total=${String(run.total)}`,
    '--concurrency=64',
    '--connections=4',
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
