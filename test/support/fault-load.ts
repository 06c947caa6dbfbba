/**
 * Selling through a fault, measured from outside (issue #20): two compiled gates and a worker
 * run as child processes on one isolated config; buyers in this process place orders through
 * both gates in a loop, each order retried under its own idempotency key until it has a definite
 * answer; a fault injector kills, freezes, stops or empties a server of the stack or one of our
 * processes; and a summary says what the buyers saw and whether anything was lost.
 *
 * Shared by `bench/faults.ts` (the table of the issue) and `test/faults/selling-through-faults*`
 * (the assertions). It never calls vitest, so the compiled benchmark can import it.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { durationMs } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError, createClient, type Client } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { AdminService } from '../../gen/fluxgate/v1/admin_pb.js';
import { OrderGateService, type PlaceOrderResponse } from '../../gen/fluxgate/v1/order_gate_pb.js';
import { ErrorInfoSchema, RetryInfoSchema } from '../../gen/google/rpc/error_details_pb.js';
import type { Config } from '../../src/config.js';
import type { Sale } from '../../src/domain/sale.js';
import { consumerLag, createTopics } from '../../src/kafka/topics.js';
import { connectRedis, type RedisClient } from '../../src/redis/client.js';
import { createKeys, type Keys } from '../../src/redis/keys.js';
import { envFor, exited, freePort, type Spawned } from './processes.js';
import { createTestSale, testSale } from './sales.js';
import { isolatedConfig, readTopic } from './stack.js';
import { adminAuth, adminToken } from './system.js';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.js';

const execFileAsync = promisify(execFile);

/**
 * The repository root: the nearest folder above this file with a package.json. Found rather than
 * fixed because this file runs from `test/support/` under vitest and from `dist/test/support/`
 * in the compiled benchmark.
 */
const repoRoot = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('no package.json above test/support/fault-load');
    dir = parent;
  }
  return dir;
})();

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

// --- the stack's servers ------------------------------------------------------------------------

/** A server of the local stack (scripts/stack.sh). */
export type StackServer = 'redis' | 'postgres' | 'kafka' | 'redis-cluster';

/** The servers whose process a fault signals directly (PostgreSQL only stops cleanly). */
type SignalledServer = 'redis' | 'kafka';

/** Where stack.sh keeps each server's pid file, and what its command line must contain. */
const pidFiles: Record<SignalledServer, { file: string; pattern: string }> = {
  redis: { file: 'redis/redis.pid', pattern: 'redis-server' },
  kafka: { file: 'kafka/kafka.pid', pattern: 'kafka.Kafka' },
};

/** The stack's folder: data, logs and pid files (`FLUXGATE_STACK_DIR`, as stack.sh reads it). */
export const stackDir = process.env.FLUXGATE_STACK_DIR ?? join(repoRoot, '.stack');

/** The one-letter state of `pid` in /proc (R, S, T, Z, …), or undefined once it is gone. */
function stateOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return undefined;
  }
}

/** True while `pid` runs (a zombie left by a SIGKILL does not count). */
function running(pid: number): boolean {
  const state = stateOf(pid);
  return state !== undefined && state !== 'Z';
}

/**
 * The pid of the stack's `server`, checked against its command line as stack.sh does, so a
 * recycled pid is never signalled; undefined when it is not running.
 */
export function stackPid(server: SignalledServer): number | undefined {
  return pidIn(pidFiles[server]);
}

/** The pid recorded in `file` (under the stack's folder) if it runs a `pattern` command. */
function pidIn({ file, pattern }: { file: string; pattern: string }): number | undefined {
  const path = join(stackDir, file);
  if (!existsSync(path)) return undefined;
  const pid = Number(readFileSync(path, 'utf8').trim().split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0 || !running(pid)) return undefined;
  const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  return cmdline.includes(pattern) ? pid : undefined;
}

/** Sends `signal` to the stack's `server`; throws when it is not running. */
export function signalServer(server: SignalledServer, signal: NodeJS.Signals): void {
  const pid = stackPid(server);
  if (pid === undefined) throw new Error(`${server} is not running (pid file under ${stackDir})`);
  process.kill(pid, signal);
}

/**
 * True once every thread of `pid` has exited. A killed process's main thread can be a zombie
 * while another of its threads is still in the kernel (Redis's background fsync of the AOF on a
 * busy disk): its files, the listening socket among them, stay open until that one exits too.
 */
function threadsExited(pid: number): boolean {
  const state = stateOf(pid);
  if (state === undefined) return true;
  if (state !== 'Z') return false;
  try {
    return readdirSync(`/proc/${pid}/task`).length <= 1;
  } catch {
    return true;
  }
}

/** Polls until `pid` and all its threads are gone (a SIGKILL takes a moment to land). */
async function gone(pid: number, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!threadsExited(pid)) {
    if (performance.now() > deadline)
      throw new Error(`pid ${pid} still runs after ${timeoutMs} ms`);
    await sleep(20);
  }
}

/** The processes whose parent is `pid` (read from /proc). */
function childrenOf(pid: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (parent === pid) children.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return children;
}

/**
 * SIGKILL to the stack's `server` and to its children, resolving once they are gone. A crash
 * takes the children too: Redis forks one to rewrite its AOF, and that child inherits the
 * listening socket, so left alive it would keep the port taken after its parent died. The
 * server is stopped (SIGSTOP) before its children are listed, so that it cannot fork one
 * between the list and the kill (CI once found the port taken after a restart).
 */
export async function killServer(server: SignalledServer): Promise<void> {
  const pid = stackPid(server);
  if (pid === undefined) throw new Error(`${server} is not running (pid file under ${stackDir})`);
  await killFamily(pid);
}

/** {@link killServer} for the process `pid`. */
async function killFamily(pid: number): Promise<void> {
  process.kill(pid, 'SIGSTOP');
  const deadline = performance.now() + 5000;
  while (stateOf(pid) === 'R' || stateOf(pid) === 'S' || stateOf(pid) === 'D') {
    if (performance.now() > deadline) break; // kill it anyway; the children listed are the best known
    await sleep(5);
  }
  const family = [pid, ...childrenOf(pid)];
  for (const member of family) {
    try {
      process.kill(member, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  for (const member of family) await gone(member);
}

/**
 * `bash scripts/stack.sh <command> <servers>`: a clean stop, a start that waits for answers, or
 * a crash (`kill postgres`: an immediate shutdown).
 */
export async function stackCommand(
  command: 'up' | 'down' | 'kill',
  ...servers: StackServer[]
): Promise<void> {
  await stackScript({}, command, ...servers);
}

async function stackScript(
  env: NodeJS.ProcessEnv,
  command: 'up' | 'down' | 'kill',
  ...servers: StackServer[]
): Promise<void> {
  await execFileAsync('bash', [join(repoRoot, 'scripts/stack.sh'), command, ...servers], {
    timeout: 180_000,
    env: { ...process.env, ...env },
  });
}

/**
 * Puts a {@link TcpProxy} of our own in the path of every Kafka client. A bootstrap address
 * alone is not enough: clients connect to the address the broker advertises in its metadata,
 * and Kafka (4.x, KRaft) refuses to change `advertised.listeners` at run time ("Cannot update
 * these configs dynamically"). So the broker is restarted advertising the proxy's port, and
 * every client, whatever bootstrap address it was given, then talks to the broker through it.
 * `restore` closes the proxy and restarts the broker advertising itself again.
 */
export async function proxyKafka(): Promise<{ proxy: TcpProxy; restore(): Promise<void> }> {
  const brokerPort = Number(isolatedConfig().kafkaBrokers[0]!.split(':').at(-1));
  const proxy = await startTcpProxy(brokerPort);
  try {
    await stackCommand('down', 'kafka');
    await stackScript({ FLUXGATE_KAFKA_ADVERTISED_PORT: String(proxy.port) }, 'up', 'kafka');
  } catch (error) {
    await proxy.close();
    await stackCommand('up', 'kafka');
    throw error;
  }
  return {
    proxy,
    async restore() {
      await stackCommand('down', 'kafka');
      await proxy.close();
      await stackCommand('up', 'kafka');
    },
  };
}

/**
 * Redis loses its data: SIGKILL, its append-only files deleted, started again empty. Redis runs
 * with AOF only (no snapshots), so the AOF folder is all it would reload.
 */
export async function emptyRedis(): Promise<void> {
  await killServer('redis');
  const dir = join(stackDir, 'redis');
  for (const name of readdirSync(dir)) {
    if (name.startsWith('appendonly') || name.endsWith('.rdb'))
      rmSync(join(dir, name), { recursive: true, force: true });
  }
  await stackCommand('up', 'redis');
}

/**
 * Whatever a fault left: every frozen server continued, every stopped one started. Safe to call
 * at any time; tests call it in afterAll so the stack is whole for the next file.
 */
export async function restoreStack(): Promise<void> {
  for (const server of ['redis', 'kafka'] as const) {
    const pid = stackPid(server);
    if (pid !== undefined) process.kill(pid, 'SIGCONT');
  }
  await stackCommand('up', 'redis', 'postgres', 'kafka');
}

// --- our processes ------------------------------------------------------------------------------

/**
 * A gate or the worker run from `dist/` as a child process that a fault may kill, freeze or
 * restart. It is a {@link Spawned} whose `child` is the current incarnation, so
 * `cleanUpAfterFile().track` stops whichever runs at the end.
 */
export interface Service extends Spawned {
  /** 'gate 1', 'gate 2', 'worker', or 'worker 2', … for workers added later. */
  readonly name: string;
  /** The service port's base URL (gates only: the worker has none). */
  readonly url: string;
  /** The operations port's base URL (/metrics, /healthz, /readyz). */
  readonly opsUrl: string;
  /** SIGSTOP / SIGCONT / SIGKILL to the current incarnation. */
  signal(signal: NodeJS.Signals): void;
  /** SIGKILL, resolving once it has exited. */
  kill(): Promise<void>;
  /**
   * Starts a new incarnation (same ports, same config but for `overrides`, which last until the
   * next restart); resolves once it answers.
   */
  restart(overrides?: Partial<Config>): Promise<void>;
  /** SIGCONT then SIGTERM (SIGKILL after 15 s); resolves once it has exited. */
  stop(): Promise<void>;
}

/** Starts `dist/src/<script>.js` with `config`; resolves once its operations port answers. */
async function startService(
  name: string,
  script: 'main-gate' | 'main-worker',
  config: Config,
  opsPort: number,
): Promise<Service> {
  const path = join(repoRoot, 'dist/src', `${script}.js`);
  let text = '';
  let child: ChildProcess;
  const launch = async (overrides: Partial<Config> = {}) => {
    text += `--- ${name} started\n`;
    child = spawn(process.execPath, [path], {
      env: envFor({ ...config, ...overrides }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const append = (chunk: Buffer) => {
      text += chunk.toString();
    };
    child.stdout?.on('data', append);
    child.stderr?.on('data', append);
    // The operations port listens last: once /healthz answers, the service port does too.
    const deadline = performance.now() + 90_000;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null)
        throw new Error(`${name} exited at start-up; it printed:\n${text}`);
      const ok = await fetch(`http://127.0.0.1:${opsPort}/healthz`, {
        signal: AbortSignal.timeout(1000),
      }).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) return;
      if (performance.now() > deadline)
        throw new Error(`${name} never answered; it printed:\n${text}`);
      await sleep(100);
    }
  };
  await launch();
  const service: Service = {
    name,
    url: `http://127.0.0.1:${config.gatePort}`,
    opsUrl: `http://127.0.0.1:${opsPort}`,
    get child() {
      return child;
    },
    output: () => text,
    waitFor: async (pattern, timeoutMs = 60_000) => {
      const deadline = performance.now() + timeoutMs;
      while (!pattern.test(text)) {
        if (performance.now() > deadline)
          throw new Error(`${name} never printed ${String(pattern)}`);
        await sleep(50);
      }
    },
    signal: (signal) => {
      child.kill(signal);
    },
    async kill() {
      child.kill('SIGKILL');
      await exited(child);
    },
    restart: launch,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGCONT');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited(child);
      clearTimeout(timer);
    },
  };
  return service;
}

// --- the system under load ----------------------------------------------------------------------

/**
 * Two gates and a worker on one isolated config, selling one sale (or several) created through
 * AdminService.
 */
export interface FaultSystem {
  /** The shared config (each gate listens on its own port). */
  readonly config: Config;
  /** The first sale: the one {@link FaultSystem.place} buys from. */
  readonly sale: Sale;
  /** Every sale, the first one first; the load spreads its orders over them. */
  readonly sales: readonly Sale[];
  readonly gates: readonly [Service, Service];
  /** The worker started with the system. */
  readonly worker: Service;
  /** Every process, for `cleanUpAfterFile().track`; workers added later are appended. */
  readonly services: readonly Service[];
  /**
   * Starts one more worker on the same config (same consumer group, its own operations port),
   * named `worker 2`, `worker 3`, …; resolves once it answers. {@link FaultSystem.stop} stops it.
   */
  addWorker(): Promise<Service>;
  readonly redis: RedisClient;
  readonly keys: Keys;
  /** PostgreSQL, for reading the orders the worker recorded. */
  readonly db: pg.Pool;
  /** The proxy every Kafka client goes through, when {@link FaultSystemOptions.kafkaProxy}. */
  readonly kafkaProxy: TcpProxy | undefined;
  /** OrderGateService of each gate over Connect (binary, HTTP/1.1 keep-alive). */
  readonly orderClients: readonly [
    Client<typeof OrderGateService>,
    Client<typeof OrderGateService>,
  ];
  /**
   * One PlaceOrder through gate `gate` (0 or 1), outside the load, with a 2 s deadline; an
   * accepted order is counted by {@link audit} like the load's.
   */
  place(
    gate: 0 | 1,
    order: { customerId: string; quantity: number; idempotencyKey?: string },
  ): Promise<PlaceOrderResponse>;
  /** Orders {@link FaultSystem.place} got accepted: id and units. */
  readonly placedOutsideLoad: ReadonlyMap<string, number>;
  /** Order ids of the sales recorded in PostgreSQL, with status and units. */
  recordedOrders(): Promise<Map<string, { status: string; quantity: number }>>;
  /** Stops every process and closes the clients; the data stays (see `dropTestData`). */
  stop(): Promise<void>;
}

/** What {@link startFaultSystem} may change. */
export interface FaultSystemOptions {
  readonly sku?: string;
  /**
   * More sales beside `sku`'s, with the same settings. Orders are keyed by sku, so each sale's
   * orders go to one partition of the order topic: several workers all get orders only when
   * the sales' skus fall on several partitions.
   */
  readonly moreSkus?: readonly string[];
  /** Every sale, over plenty of stock and an admission rate that never refuses. */
  readonly sale?: Partial<Sale>;
  /** Config of all three processes, over the isolated one. */
  readonly config?: Partial<Config>;
  /** Every Kafka client through a {@link TcpProxy} ({@link proxyKafka}); undone by `stop`. */
  readonly kafkaProxy?: boolean;
}

/**
 * Starts a worker and two gates (the compiled `dist/`, built by `npm run build`) on a fresh
 * isolated config, and creates the sale through the first gate's AdminService.
 */
export async function startFaultSystem(options: FaultSystemOptions = {}): Promise<FaultSystem> {
  const sku = options.sku ?? 'FAULT-1';
  const config = isolatedConfig({ adminToken, logLevel: 'warn', ...options.config });
  const proxied = options.kafkaProxy === true ? await proxyKafka() : undefined;
  try {
    return await startSystemOn(sku, config, options, proxied);
  } catch (error) {
    await proxied?.restore();
    throw error;
  }
}

async function startSystemOn(
  sku: string,
  config: Config,
  options: FaultSystemOptions,
  proxied: Awaited<ReturnType<typeof proxyKafka>> | undefined,
): Promise<FaultSystem> {
  const [gatePort1, gatePort2, opsPort1, opsPort2, workerOps] = await Promise.all([
    freePort(),
    freePort(),
    freePort(),
    freePort(),
    freePort(),
  ]);
  // The worker migrates the schema; the gates need it only once the sale is created below.
  const started = await Promise.allSettled([
    startService('worker', 'main-worker', { ...config, workerOpsPort: workerOps }, workerOps),
    startService(
      'gate 1',
      'main-gate',
      { ...config, gatePort: gatePort1, gateOpsPort: opsPort1 },
      opsPort1,
    ),
    startService(
      'gate 2',
      'main-gate',
      { ...config, gatePort: gatePort2, gateOpsPort: opsPort2 },
      opsPort2,
    ),
  ]);
  const failed = started.find((s) => s.status === 'rejected');
  if (failed !== undefined) {
    for (const s of started) if (s.status === 'fulfilled') await s.value.stop();
    throw failed.reason;
  }
  const [worker, gate1, gate2] = started.map(
    (s) => (s as PromiseFulfilledResult<Service>).value,
  ) as [Service, Service, Service];
  const agents = [gate1, gate2].map(() => new http.Agent({ keepAlive: true, maxSockets: 32 }));
  const transports = [gate1, gate2].map((gate, i) =>
    createConnectTransport({
      baseUrl: gate.url,
      httpVersion: '1.1',
      useBinaryFormat: true,
      nodeOptions: { agent: agents[i] },
    }),
  );
  const orderClients = transports.map((t) => createClient(OrderGateService, t)) as [
    Client<typeof OrderGateService>,
    Client<typeof OrderGateService>,
  ];
  const sales = [sku, ...(options.moreSkus ?? [])].map((s) =>
    testSale(s, { totalStock: 10_000_000, perCustomerLimit: 2, ...options.sale }),
  );
  const sale = sales[0]!;
  const admin = createClient(AdminService, transports[0]!);
  for (const s of sales) await createTestSale(admin, s, adminAuth);
  const skus = sales.map((s) => s.sku);

  const redis = connectRedis(config);
  redis.on('error', () => {
    // Faults take Redis away; commands fail and are retried by the caller.
  });
  const db = new pg.Pool({ connectionString: config.databaseUrl, max: 2 });
  db.on('error', () => {
    // A stopped PostgreSQL ends idle connections; the next query opens a new one.
  });
  const placedOutsideLoad = new Map<string, number>();
  const services = [gate1, gate2, worker];
  return {
    config,
    sale,
    sales,
    gates: [gate1, gate2],
    worker,
    services,
    async addWorker() {
      const opsPort = await freePort();
      const added = await startService(
        `worker ${services.length - 1}`,
        'main-worker',
        { ...config, workerOpsPort: opsPort },
        opsPort,
      );
      services.push(added);
      return added;
    },
    redis,
    keys: createKeys(config.redisKeyPrefix),
    db,
    kafkaProxy: proxied?.proxy,
    orderClients,
    placedOutsideLoad,
    async place(gate, order) {
      const response = await orderClients[gate].placeOrder(
        {
          sku,
          quantity: order.quantity,
          customerId: order.customerId,
          idempotencyKey: order.idempotencyKey ?? randomUUID(),
        },
        { timeoutMs: 2000 },
      );
      placedOutsideLoad.set(response.orderId, order.quantity);
      return response;
    },
    async recordedOrders() {
      const { rows } = await db.query<{ id: string; status: string; quantity: number }>(
        `select order_id::text as id, status, quantity from "${config.databaseSchema}".orders where sku = any($1)`,
        [skus],
      );
      return new Map(rows.map((r) => [r.id, { status: r.status, quantity: r.quantity }]));
    },
    async stop() {
      await Promise.all(services.map((s) => s.stop()));
      for (const agent of agents) agent.destroy();
      await db.end();
      redis.disconnect();
      await proxied?.restore();
    },
  };
}

// --- buyers ------------------------------------------------------------------------------------

/** One PlaceOrder call as a buyer saw it. */
export interface Attempt {
  /** The buyer (0 … clients − 1). */
  readonly client: number;
  /** The order's idempotency key (every attempt of one order shares it). */
  readonly key: string;
  /** The gate called: 0 or 1. */
  readonly gate: number;
  /**
   * Milliseconds on `performance.now()`: a monotonic clock, because CI once saw the wall clock
   * step 19 s forward during a 2 s attempt and counted it as a gate answering past its deadline.
   */
  readonly start: number;
  readonly end: number;
  /**
   * `ok`; a Connect code in snake case (`unavailable`, `deadline_exceeded`, …); `transport` when
   * no answer came because the connection failed; `no_answer` when the buyer gave up waiting.
   */
  readonly code: string;
  /** ErrorInfo.reason of a refusal, the system error code of a transport failure, or ''. */
  readonly reason: string;
  /** RetryInfo's delay when the answer carried one. */
  readonly retryDelayMs: number | undefined;
  /** The accepted order's id. */
  readonly orderId: string | undefined;
}

/** One order as its buyer placed it, under one idempotency key, until a definite answer. */
export interface BuyerOrder {
  readonly key: string;
  /** The sale it buys from. */
  readonly sku: string;
  readonly customerId: string;
  readonly client: number;
  /** `ok` (accepted), `refused` (a definite refusal) or `open` (no definite answer yet). */
  outcome: 'ok' | 'refused' | 'open';
  /** Every order id an answer named: more than one means one key became two orders. */
  readonly orderIds: Set<string>;
  /** Attempts made after the load stopped, to learn the outcome of an open order. */
  settleAttempts: number;
}

/** How the buyers behave. */
export interface BuyerOptions {
  /** Buyers placing orders at once (default 8), alternating between the two gates. */
  readonly clients?: number;
  /** Deadline of each attempt, sent to the gate (default 2000 ms). */
  readonly deadlineMs?: number;
  /**
   * How long past its deadline a buyer still waits for an answer before giving up (default
   * 1500 ms): long enough to see a call outlive its deadline, short enough to fail over from a
   * frozen gate.
   */
  readonly patienceMs?: number;
  /** Pause between one order's definite answer and the buyer's next order (default 20 ms). */
  readonly pauseMs?: number;
  /** Wait before retrying an answer that names no retry delay (default 250 ms). */
  readonly fallbackRetryMs?: number;
  /** Longest retry delay a buyer honours (default 5000 ms). */
  readonly maxRetryDelayMs?: number;
}

/** Answers whose outcome is unknown or that ask to come back: the buyer retries the same key. */
const retriedCodes: ReadonlySet<string> = new Set([
  'unavailable',
  'resource_exhausted',
  'aborted',
  'deadline_exceeded',
  'internal',
  'unknown',
  'canceled',
  'transport',
  'no_answer',
]);

/** The codes the issue requires a retry delay on: they invite a retry. */
export const retryInvitingCodes: ReadonlySet<string> = new Set([
  'unavailable',
  'resource_exhausted',
  'aborted',
]);

/** An attempt's answer as one label: `ok`, `unavailable OUTCOME_UNKNOWN`, `transport ECONNRESET`. */
export function answerOf(a: Attempt): string {
  return a.reason === '' ? a.code : `${a.code} ${a.reason}`;
}

/** `DeadlineExceeded` → `deadline_exceeded`, as the Connect protocol spells codes. */
function codeName(code: Code): string {
  return Code[code].replace(/(?<=[a-z])(?=[A-Z])/g, '_').toLowerCase();
}

/** The system error code (ECONNREFUSED, ECONNRESET, …) somewhere in `error`'s causes. */
function systemErrorCode(error: unknown): string | undefined {
  let e: unknown = error;
  for (let depth = 0; depth < 6 && e instanceof Error; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^(E[A-Z]+|UND_ERR\w*|ERR_\w+)$/.test(code)) return code;
    e = e.cause;
  }
  return undefined;
}

/** Orders placed by buyers in a loop until {@link Load.stop}. */
export interface Load {
  /** Every attempt of every order while the load ran, in the order they ended. */
  readonly attempts: readonly Attempt[];
  readonly orders: readonly BuyerOrder[];
  readonly deadlineMs: number;
  /** Buyers placing orders at once. */
  readonly clients: number;
  /** When the load started and stopped (ms on `performance.now()`, a monotonic clock; `stoppedAt` is undefined while it runs). */
  readonly startedAt: number;
  readonly stoppedAt: number | undefined;
  /** Buyers finish their current attempt and place nothing more. */
  stop(): Promise<void>;
  /**
   * Retries each open order under its key, after the load, until it has a definite answer or
   * `timeoutMs` passes: what a buyer would do to learn an unknown outcome. Returns the orders
   * still open.
   */
  settle(timeoutMs?: number): Promise<number>;
}

/**
 * Starts buyers placing one-unit orders, each for a new customer, through both gates; each
 * buyer's orders go to the sales in turn.
 */
export function startLoad(system: FaultSystem, options: BuyerOptions = {}): Load {
  const clients = options.clients ?? 8;
  const deadlineMs = options.deadlineMs ?? 2000;
  const patienceMs = options.patienceMs ?? 1500;
  const pauseMs = options.pauseMs ?? 20;
  const fallbackRetryMs = options.fallbackRetryMs ?? 250;
  const maxRetryDelayMs = options.maxRetryDelayMs ?? 5000;
  const attempts: Attempt[] = [];
  const orders: BuyerOrder[] = [];
  const run = randomUUID().slice(0, 8);
  let stopRequested = false;
  // A function, not the variable: TypeScript would keep a check narrowed across the awaits
  // during which stop() changes it.
  const stopped = () => stopRequested;
  let stoppedAt: number | undefined;
  const wake = new Set<() => void>();
  // Sleeps end early when the load stops, so stop() returns within one attempt.
  const nap = (ms: number) =>
    new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        wake.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      wake.add(done);
    });

  const attempt = async (client: number, gate: number, order: BuyerOrder): Promise<Attempt> => {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), deadlineMs + patienceMs);
    const start = performance.now();
    const base = { client, key: order.key, gate, start };
    try {
      // The deadline travels as the Connect timeout header only: with `timeoutMs` the client
      // would abort at the deadline itself, hiding a gate that answers late.
      const response = await system.orderClients[gate as 0 | 1].placeOrder(
        {
          sku: order.sku,
          quantity: 1,
          customerId: order.customerId,
          idempotencyKey: order.key,
        },
        { headers: { 'connect-timeout-ms': String(deadlineMs) }, signal: controller.signal },
      );
      return {
        ...base,
        end: performance.now(),
        code: 'ok',
        reason: '',
        retryDelayMs: undefined,
        orderId: response.orderId,
      };
    } catch (error) {
      const end = performance.now();
      if (controller.signal.aborted)
        return {
          ...base,
          end,
          code: 'no_answer',
          reason: '',
          retryDelayMs: undefined,
          orderId: undefined,
        };
      const info =
        error instanceof ConnectError ? error.findDetails(ErrorInfoSchema)[0] : undefined;
      const system_ = info === undefined ? systemErrorCode(error) : undefined;
      const retry =
        error instanceof ConnectError ? error.findDetails(RetryInfoSchema)[0] : undefined;
      return {
        ...base,
        end,
        code:
          system_ !== undefined
            ? 'transport'
            : error instanceof ConnectError
              ? codeName(error.code)
              : 'unknown',
        reason: info?.reason ?? system_ ?? '',
        retryDelayMs: retry?.retryDelay === undefined ? undefined : durationMs(retry.retryDelay),
        orderId: undefined,
      };
    } finally {
      clearTimeout(timer);
    }
  };

  /** The buyer's next step after `a`: done, or the wait before the same key again. */
  const next = (a: Attempt, order: BuyerOrder): number | 'done' => {
    if (a.code === 'ok') {
      order.outcome = 'ok';
      order.orderIds.add(a.orderId!);
      return 'done';
    }
    if (!retriedCodes.has(a.code)) {
      order.outcome = 'refused';
      return 'done';
    }
    if (a.code === 'transport' || a.code === 'no_answer') return 50;
    return Math.min(a.retryDelayMs ?? fallbackRetryMs, maxRetryDelayMs);
  };

  const buyer = async (client: number) => {
    let gate = client % 2;
    for (let n = 0; !stopped(); n++) {
      const order: BuyerOrder = {
        key: randomUUID(),
        sku: system.sales[(client + n) % system.sales.length]!.sku,
        customerId: `${run}-b${client}-${n}`,
        client,
        outcome: 'open',
        orderIds: new Set(),
        settleAttempts: 0,
      };
      orders.push(order);
      while (!stopped()) {
        const a = await attempt(client, gate, order);
        attempts.push(a);
        const step = next(a, order);
        if (step === 'done') break;
        // A buyer whose gate is unreachable or frozen goes to the other one.
        if (a.code === 'transport' || a.code === 'no_answer') gate = 1 - gate;
        await nap(step);
      }
      if (!stopped()) await nap(pauseMs);
    }
  };

  const startedAt = performance.now();
  const buyers = Array.from({ length: clients }, (_, i) => buyer(i));
  return {
    attempts,
    orders,
    deadlineMs,
    clients,
    startedAt,
    get stoppedAt() {
      return stoppedAt;
    },
    async stop() {
      stopRequested = true;
      for (const done of [...wake]) done();
      await Promise.all(buyers);
      stoppedAt ??= performance.now();
    },
    async settle(timeoutMs = 30_000) {
      const until = performance.now() + timeoutMs;
      const open = orders.filter((o) => o.outcome === 'open');
      let gate = 0;
      const settleOne = async (order: BuyerOrder) => {
        while (order.outcome === 'open' && performance.now() < until) {
          const a = await attempt(order.client, gate, order);
          order.settleAttempts++;
          const step = next(a, order);
          if (step === 'done') return;
          if (a.code === 'transport' || a.code === 'no_answer') gate = 1 - gate;
          await sleep(step);
        }
      };
      // A few at a time: after a fault there may be one open order per buyer, rarely more.
      for (let i = 0; i < open.length; i += clients)
        await Promise.all(open.slice(i, i + clients).map(settleOne));
      return orders.filter((o) => o.outcome === 'open').length;
    },
  };
}

// --- faults -------------------------------------------------------------------------------------

/** One fault of the issue's table: how it starts, how it heals, and how long it lasts between. */
export interface Fault {
  /** The row label. */
  readonly label: string;
  /** Starts the fault; the fault window opens when this is called. */
  inject(system: FaultSystem): Promise<void>;
  /** Ends it; the fault window closes when this resolves (the server answers again). */
  heal(system: FaultSystem): Promise<void>;
  /** How long the fault lasts between `inject` resolving and `heal` being called. */
  readonly holdMs: number;
  /** What the system must have for this fault (passed to {@link startFaultSystem}). */
  readonly system?: FaultSystemOptions;
}

/** The proxy of a system started with `kafkaProxy`; throws when there is none. */
function proxyOf(system: FaultSystem): TcpProxy {
  if (system.kafkaProxy === undefined) throw new Error('start the system with kafkaProxy: true');
  return system.kafkaProxy;
}

/** Kills gate `i` (kill -9), waits, starts it again; the buyers on it fail over meanwhile. */
async function killAndRestartGate(system: FaultSystem, i: 0 | 1, downMs: number): Promise<void> {
  await system.gates[i].kill();
  await sleep(downMs);
  await system.gates[i].restart();
}

/**
 * The worker started with its failpoint armed (`FLUXGATE_FAILPOINT`), after a clean stop so that
 * it gets the partitions at once: it kills itself (SIGKILL) right after the first transaction it
 * commits, before the offsets. Resolves once it is dead; throws if the failpoint never fired.
 */
async function workerKilledByFailpoint(system: FaultSystem): Promise<void> {
  const { worker } = system;
  await worker.stop();
  await worker.restart({ workerFailpoint: 'after-commit-before-offsets' }).catch((e: unknown) => {
    // Killed by the failpoint before its operations port answered: what we want, only sooner.
    if (worker.child.signalCode !== 'SIGKILL') throw e;
  });
  await Promise.race([
    exited(worker.child),
    sleep(30_000).then(() => {
      throw new Error('the worker failpoint did not fire within 30 s');
    }),
  ]);
  // Its last words may arrive after the exit event: stdout is read asynchronously.
  await worker.waitFor(/failpoint after-commit-before-offsets/, 5000).catch(() => {
    const how = worker.child.signalCode ?? `exit code ${worker.child.exitCode}`;
    throw new Error(`the worker died (${how}), but not by its failpoint:\n${worker.output()}`);
  });
}

/** Records that are not orders: bytes that do not decode, and a record without a value. */
const poisonRecords = [
  Buffer.from([0xff, 0xff, 0xff, 0xff]),
  Buffer.from('{"orderId":"not protobuf"}'),
  null,
];

/**
 * Writes straight to the sale's order topic: {@link poisonRecords}, then a copy of each of the
 * first 20 order records on the topic (same key, value and headers), as a producer retry or a
 * relay publishing twice would.
 */
async function writePoisonAndDuplicates(system: FaultSystem): Promise<void> {
  const topics = createTopics(system.config.topicPrefix);
  const originals = (
    await readTopic(system.config, topics.orders, (r) => r.length >= 20, 20_000)
  ).slice(0, 20);
  const kafka = new Kafka({ brokers: system.config.kafkaBrokers, logLevel: logLevel.NOTHING });
  const producer = kafka.producer();
  await producer.connect();
  try {
    await producer.send({
      topic: topics.orders,
      messages: [
        ...poisonRecords.map((value) => ({ key: system.sale.sku, value })),
        ...originals.map((m) => ({ key: m.key, value: m.value, headers: m.headers })),
      ],
    });
  } finally {
    await producer.disconnect();
  }
}

/** How many records {@link writePoisonAndDuplicates} writes that the worker must dead-letter. */
export const poisonRecordCount = poisonRecords.length;

// --- a Redis Cluster master ---------------------------------------------------------------------

/** The ports of the master serving `key`'s slot and of its replicas, as the cluster answers now. */
export async function slotNodesOf(
  redis: RedisClient,
  key: string,
): Promise<{ master: number; replicas: number[] }> {
  const slot = await redis.cluster('KEYSLOT', key);
  const ranges = (await redis.cluster('SLOTS')) as unknown as [
    number,
    number,
    ...[string, number][],
  ][];
  const range = ranges.find(([from, to]) => slot >= from && slot <= to);
  if (range === undefined) throw new Error(`no master serves slot ${slot}`);
  const [, , master, ...replicas] = range;
  if (master === undefined) throw new Error(`slot ${slot} has no master`);
  return { master: master[1], replicas: replicas.map(([, port]) => port) };
}

/** The pid of the stack's Redis Cluster node on `port`; throws when it is not running. */
export function clusterNodePid(port: number): number {
  const pid = pidIn({ file: `redis-cluster/${port}/redis.pid`, pattern: 'redis-server' });
  if (pid === undefined) throw new Error(`redis cluster node ${port} is not running`);
  return pid;
}

/**
 * The master of the first sale's slot killed (kill -9 of it and its children, as {@link
 * killServer}), from the pid file stack.sh keeps per cluster node. Its replica takes over once
 * the other masters find it gone (2 s node timeout); the heal waits for that, then starts the
 * old master again, which rejoins as the new master's replica.
 */
export function clusterMasterFailover(): Fault {
  let killedPort: number | undefined;
  return {
    label:
      "Redis Cluster: the sale's master kill -9, its replica promoted, the old master back as a replica",
    async inject(system) {
      killedPort = (await slotNodesOf(system.redis, system.keys.stock(system.sale.sku))).master;
      await killFamily(clusterNodePid(killedPort));
    },
    async heal(system) {
      const deadline = performance.now() + 30_000;
      for (;;) {
        // Asked of whichever node answers: the dead one fails the call, and we ask again.
        const port = await slotNodesOf(system.redis, system.keys.stock(system.sale.sku)).then(
          (nodes) => nodes.master,
          () => killedPort,
        );
        if (port !== killedPort) break;
        if (performance.now() > deadline) throw new Error('no replica took over within 30 s');
        await sleep(200);
      }
      await stackCommand('up', 'redis-cluster');
    },
    holdMs: 0,
  };
}

/** The faults of issue #20, with the durations it measured them with. */
export const faults = {
  'kafka-kill': {
    label: 'Kafka broker kill -9, restarted after 10 s',
    inject: () => killServer('kafka'),
    heal: () => stackCommand('up', 'kafka'),
    holdMs: 10_000,
  },
  'kafka-stop': {
    label: 'Kafka broker clean stop, restarted after 5 s',
    inject: () => stackCommand('down', 'kafka'),
    heal: () => stackCommand('up', 'kafka'),
    holdMs: 5_000,
  },
  'kafka-hang': {
    label: 'Kafka broker hung 12 s (SIGSTOP)',
    inject: async () => signalServer('kafka', 'SIGSTOP'),
    heal: async () => signalServer('kafka', 'SIGCONT'),
    holdMs: 12_000,
  },
  'redis-hang': {
    label: 'Redis SIGSTOP 5 s',
    inject: async () => signalServer('redis', 'SIGSTOP'),
    heal: async () => signalServer('redis', 'SIGCONT'),
    holdMs: 5_000,
  },
  'redis-kill': {
    label: 'Redis kill -9, restarted from its AOF',
    inject: () => killServer('redis'),
    heal: () => stackCommand('up', 'redis'),
    holdMs: 0,
  },
  'redis-wipe': {
    label: 'Redis loses its data (kill -9, AOF deleted, restarted empty)',
    inject: async () => {
      await emptyRedis();
    },
    heal: async () => {
      // emptyRedis already started it again: the fault is the data it no longer has.
    },
    holdMs: 0,
  },
  'gate-kill': {
    label: 'gate kill -9, restarted after 5 s',
    inject: (s) => s.gates[0].kill(),
    heal: (s) => s.gates[0].restart(),
    holdMs: 5_000,
  },
  'gate-hang': {
    label: 'gate SIGSTOP 5 s',
    inject: async (s) => s.gates[0].signal('SIGSTOP'),
    heal: async (s) => s.gates[0].signal('SIGCONT'),
    holdMs: 5_000,
  },
  'worker-kill': {
    label: 'worker kill -9, restarted after 5 s',
    inject: (s) => s.worker.kill(),
    heal: (s) => s.worker.restart(),
    holdMs: 5_000,
  },
  'worker-hang': {
    label: 'worker SIGSTOP 5 s',
    inject: async (s) => s.worker.signal('SIGSTOP'),
    heal: async (s) => s.worker.signal('SIGCONT'),
    holdMs: 5_000,
  },
  'postgres-stop': {
    label: 'PostgreSQL clean stop, restarted after 5 s',
    inject: () => stackCommand('down', 'postgres'),
    heal: () => stackCommand('up', 'postgres'),
    holdMs: 5_000,
  },
  'gate-kill-repeated': {
    label: 'gate kill -9 three times (gate 1, gate 2, gate 1), each restarted after 1.5 s',
    inject: async (s) => {
      for (const i of [0, 1, 0] as const) {
        await killAndRestartGate(s, i, 1500);
        await sleep(1000);
      }
    },
    heal: async () => {
      // Each gate was started again by inject: the fault is the three crashes.
    },
    holdMs: 0,
  },
  'worker-failpoint': {
    label: 'worker kill -9 right after a database commit, before its offset commit (failpoint)',
    inject: workerKilledByFailpoint,
    heal: (s) => s.worker.restart({ workerFailpoint: '' }),
    holdMs: 1_000,
  },
  'worker-hang-long': {
    label: "worker SIGSTOP 8 s (past a buyer's 2 s deadline + 1.5 s patience), then SIGCONT",
    inject: async (s) => s.worker.signal('SIGSTOP'),
    heal: async (s) => s.worker.signal('SIGCONT'),
    holdMs: 8_000,
  },
  'postgres-kill': {
    label:
      'PostgreSQL immediate shutdown (pg_ctl -m immediate) during consumption, started after 3 s',
    inject: () => stackCommand('kill', 'postgres'),
    heal: () => stackCommand('up', 'postgres'),
    holdMs: 3_000,
  },
  'kafka-poison': {
    label: 'poison (3) and duplicate (20) records written straight to the order topic',
    inject: writePoisonAndDuplicates,
    heal: async () => {
      // Nothing to undo: the records are on the topic for good.
    },
    holdMs: 2_000,
  },
  'kafka-proxy': {
    label:
      'Kafka through a TCP proxy: 3 s delayed 400 ms each way, 3 s black-holed, connections reset, healed',
    inject: async (s) => {
      proxyOf(s).setMode({ kind: 'delay', ms: 400 });
      await sleep(3000);
      proxyOf(s).setMode({ kind: 'blackhole' });
    },
    heal: async (s) => {
      proxyOf(s).setMode({ kind: 'reset' });
      await sleep(200);
      proxyOf(s).setMode({ kind: 'pass' });
    },
    holdMs: 3_000,
    system: { kafkaProxy: true },
  },
} as const satisfies Record<string, Fault>;

/** The name of one of {@link faults}. */
export type FaultName = keyof typeof faults;

/** The phases of one fault under load. */
export interface FaultTimings {
  /** Load before the fault (default 3000 ms). */
  readonly beforeMs?: number;
  /** Overrides the fault's {@link Fault.holdMs}. */
  readonly holdMs?: number;
  /** Load after the heal at least (default 3000 ms). */
  readonly afterMinMs?: number;
  /** Load after the heal at most, recovered or not (default 30 000 ms). */
  readonly afterMaxMs?: number;
  /** Every answer ok for this long (and the backlog recorded) ends the load early (default 4000 ms). */
  readonly healthyForMs?: number;
}

/** One fault run under load, with everything the summary needs. */
export interface FaultRun {
  readonly fault: string;
  readonly load: Load;
  /** inject called (the fault window opens). */
  readonly injectedAt: number;
  /** heal resolved (the fault window closes: the server answers again). */
  readonly healedAt: number;
  /**
   * When every order accepted before the heal was first seen in PostgreSQL (polled every
   * 250 ms after the heal); undefined if that never happened while the load ran.
   */
  readonly backlogRecordedAt: number | undefined;
  /** Orders open when the load stopped that stayed open through {@link Load.settle}. */
  readonly openAfterSettle: number;
  /** How long every answer had to be ok for the system to count as recovered. */
  readonly healthyForMs: number;
}

/** When the last non-ok answer ended (0 if none). */
function lastFailureEnd(attempts: readonly Attempt[], from: number): number {
  let last = 0;
  for (const a of attempts) if (a.code !== 'ok' && a.end >= from && a.end > last) last = a.end;
  return last;
}

/**
 * Runs `fault` under load: buyers start, the fault is injected after `beforeMs`, held, healed,
 * and the load goes on until the system has recovered (every answer ok for `healthyForMs`,
 * an order accepted after the heal, every order accepted before it recorded) or `afterMaxMs`
 * passed. Then the open orders are settled (the stack must be healthy again by then).
 */
export async function runFault(
  system: FaultSystem,
  fault: Fault,
  timings: FaultTimings = {},
  buyers: BuyerOptions = {},
): Promise<FaultRun> {
  const beforeMs = timings.beforeMs ?? 3000;
  const afterMinMs = timings.afterMinMs ?? 3000;
  const afterMaxMs = timings.afterMaxMs ?? 30_000;
  const healthyForMs = timings.healthyForMs ?? 4000;
  const load = startLoad(system, buyers);
  try {
    await sleep(beforeMs);
    const injectedAt = performance.now();
    await fault.inject(system);
    await sleep(timings.holdMs ?? fault.holdMs);
    await fault.heal(system);
    const healedAt = performance.now();

    let backlogRecordedAt: number | undefined;
    const backlog = new Set(
      load.attempts.filter((a) => a.code === 'ok' && a.end <= healedAt).map((a) => a.orderId!),
    );
    for (;;) {
      const now = performance.now();
      if (backlogRecordedAt === undefined) {
        const found = await system.db
          .query<{ id: string }>(
            `select order_id::text as id from "${system.config.databaseSchema}".orders where order_id = any($1::uuid[])`,
            [[...backlog]],
          )
          .then(
            (r) => r.rows,
            () => [],
          );
        for (const { id } of found) backlog.delete(id);
        if (backlog.size === 0) backlogRecordedAt = performance.now();
      }
      const healthySince = Math.max(lastFailureEnd(load.attempts, injectedAt), healedAt);
      const acceptedSinceHeal = load.attempts.some((a) => a.code === 'ok' && a.end >= healedAt);
      const recovered =
        backlogRecordedAt !== undefined && acceptedSinceHeal && now - healthySince >= healthyForMs;
      if ((recovered && now - healedAt >= afterMinMs) || now - healedAt >= afterMaxMs) break;
      await sleep(250);
    }
    await load.stop();
    return {
      fault: fault.label,
      load,
      injectedAt,
      healedAt,
      backlogRecordedAt,
      openAfterSettle: await load.settle(),
      healthyForMs,
    };
  } finally {
    // Also when the fault could not be injected or healed: no buyer is left running.
    await load.stop();
  }
}

// --- what was lost -----------------------------------------------------------------------------

/** The books after draining: what the buyers were told against what PostgreSQL and Redis hold. */
export interface Audit {
  /** Distinct order ids answered ok (the load's and {@link FaultSystem.place}'s). */
  readonly accepted: number;
  /** Answered ok but not in PostgreSQL after draining: lost orders. */
  readonly lost: readonly string[];
  /** In PostgreSQL but never answered ok to anyone (open orders whose outcome stayed unknown). */
  readonly unanswered: readonly string[];
  /** Keys whose answers named two different order ids (one buyer's order became two). */
  readonly splitKeys: readonly string[];
  /** PostgreSQL rows of the sales beyond one per order id. */
  readonly duplicateRows: number;
  /** PostgreSQL rows not CONFIRMED. */
  readonly notConfirmed: number;
  /** Units of the orders answered ok. */
  readonly unitsAccepted: number;
  /** Units of the CONFIRMED orders in PostgreSQL. */
  readonly unitsRecorded: number;
  /** Total stock minus the live counter in Redis, summed over the sales; undefined when a counter is missing. */
  readonly unitsLive: number | undefined;
  /** Entries left in the sales' outboxes. */
  readonly outboxLeft: number;
}

/**
 * Waits (up to `timeoutMs`) until every accepted order is in PostgreSQL and the outbox is empty,
 * then compares what the buyers were told with PostgreSQL and the live counter.
 */
export async function audit(
  system: FaultSystem,
  run: FaultRun,
  timeoutMs = 45_000,
): Promise<Audit> {
  const accepted = new Map<string, number>(system.placedOutsideLoad);
  for (const order of run.load.orders) for (const id of order.orderIds) accepted.set(id, 1);
  const skus = system.sales.map((s) => s.sku);
  // -1 when Redis cannot answer: never counted as empty.
  const outboxLength = async () => {
    const lengths = await Promise.all(
      skus.map((sku) => system.redis.xlen(system.keys.outbox(sku)).catch(() => -1)),
    );
    return lengths.includes(-1) ? -1 : lengths.reduce((a, b) => a + b, 0);
  };
  const deadline = performance.now() + timeoutMs;
  let recorded = await system.recordedOrders();
  while (
    ([...accepted.keys()].some((id) => !recorded.has(id)) || (await outboxLength()) !== 0) &&
    performance.now() < deadline
  ) {
    await sleep(500);
    recorded = await system.recordedOrders();
  }
  // Room for a late duplicate or a relay republishing what was already recorded.
  await sleep(1000);
  recorded = await system.recordedOrders();
  const { rows } = await system.db.query<{ n: string }>(
    `select count(*) as n from "${system.config.databaseSchema}".orders where sku = any($1)`,
    [skus],
  );
  const stocks = await Promise.all(
    system.sales.map((s) => system.redis.get(system.keys.stock(s.sku))),
  );
  let unitsLive: number | undefined = 0;
  for (const [i, stock] of stocks.entries())
    unitsLive =
      stock === null || unitsLive === undefined
        ? undefined
        : unitsLive + system.sales[i]!.totalStock - Number(stock);
  let unitsAccepted = 0;
  for (const units of accepted.values()) unitsAccepted += units;
  let unitsRecorded = 0;
  let notConfirmed = 0;
  for (const row of recorded.values()) {
    if (row.status === 'CONFIRMED') unitsRecorded += row.quantity;
    else notConfirmed++;
  }
  return {
    accepted: accepted.size,
    lost: [...accepted.keys()].filter((id) => !recorded.has(id)),
    unanswered: [...recorded.keys()].filter((id) => !accepted.has(id)),
    splitKeys: run.load.orders.filter((o) => o.orderIds.size > 1).map((o) => o.key),
    duplicateRows: Number(rows[0]?.n ?? 0) - recorded.size,
    notConfirmed,
    unitsAccepted,
    unitsRecorded,
    unitsLive,
    outboxLeft: await outboxLength(),
  };
}

/**
 * What does not add up after draining, as counts (only the non-zero ones), so that a failed
 * assertion says at once what went wrong: `{}` when every accepted order is recorded once and
 * the units agree everywhere.
 */
export function discrepancies(run: FaultRun, books: Audit): Record<string, number> {
  const found: Record<string, number> = {
    'orders never answered definitely': run.openAfterSettle,
    'accepted, not recorded (lost)': books.lost.length,
    'keys answered with two order ids': books.splitKeys.length,
    'recorded, never accepted': books.unanswered.length,
    'duplicate rows': books.duplicateRows,
    'rows not CONFIRMED': books.notConfirmed,
    'outbox entries left': books.outboxLeft,
    'units recorded minus accepted': books.unitsRecorded - books.unitsAccepted,
    'units live minus recorded':
      books.unitsLive === undefined ? Number.NaN : books.unitsLive - books.unitsRecorded,
  };
  return Object.fromEntries(Object.entries(found).filter(([, n]) => n !== 0));
}

/** The last `lines` lines each process printed, to explain a failed assertion. */
export function processLogs(system: FaultSystem, lines = 12): string {
  return system.services
    .map((s) => `--- ${s.name}\n${s.output().trimEnd().split('\n').slice(-lines).join('\n')}`)
    .join('\n');
}

/** Answers that broke a promise of issue #20, grouped so that a failed assertion reads well. */
export interface BrokenPromises {
  /** Answers inviting a retry (unavailable, resource_exhausted, aborted) without RetryInfo: count by answer. */
  readonly withoutRetryDelay: Readonly<Record<string, number>>;
  /** Attempts that outlived their deadline by more than the margin: the worst overrun (ms) by answer. */
  readonly pastDeadline: Readonly<Record<string, number>>;
}

/** The attempts of `run` that broke the retry-delay or the deadline promise. */
export function brokenPromises(run: FaultRun, marginMs = 500): BrokenPromises {
  const withoutRetryDelay: Record<string, number> = {};
  const pastDeadline: Record<string, number> = {};
  for (const a of run.load.attempts) {
    const answer = answerOf(a);
    if (retryInvitingCodes.has(a.code) && a.retryDelayMs === undefined)
      withoutRetryDelay[answer] = (withoutRetryDelay[answer] ?? 0) + 1;
    const overrun = a.end - a.start - run.load.deadlineMs;
    if (overrun > marginMs) pastDeadline[answer] = Math.max(pastDeadline[answer] ?? 0, overrun);
  }
  return { withoutRetryDelay, pastDeadline };
}

// --- the summary ------------------------------------------------------------------------------

/** What the buyers saw through one fault: the columns of the issue's table, and a few more. */
export interface FaultSummary {
  readonly fault: string;
  /** From inject to heal. */
  readonly faultMs: number;
  readonly attempts: number;
  readonly acceptedAttempts: number;
  /** Attempts answered ok that ended inside the fault window. */
  readonly acceptedDuringFault: number;
  /**
   * Longest stretch with no attempt answered ok, inside the fault window (its edges count as
   * edges of a stretch) and over the whole load (from its start to its end).
   */
  readonly longestGapDuringFaultMs: number;
  readonly longestGapOverallMs: number;
  /** Answers by `code reason` (`ok` included), most frequent first. */
  readonly answers: ReadonlyArray<readonly [string, number]>;
  /** Answers with a code that invites a retry (unavailable, resource_exhausted, aborted). */
  readonly retryInviting: number;
  /** …of which carried RetryInfo. */
  readonly retryInvitingWithDelay: number;
  /** The longest attempt minus its deadline (negative: every call answered in time). */
  readonly worstOverrunMs: number;
  /** The answer of that attempt. */
  readonly worstOverrunAnswer: string;
  /** Attempts that took longer than their deadline plus 500 ms. */
  readonly overDeadline: number;
  /** Heal to the first attempt answered ok after it. */
  readonly firstAcceptAfterHealMs: number | undefined;
  /**
   * Heal to the end of the last answer that was not ok: after it, every buyer was answered ok
   * until the load stopped. 0 if every answer after the heal was ok; undefined if failures went
   * on until the load stopped.
   */
  readonly answersHealthyAfterHealMs: number | undefined;
  /** Heal to every order accepted before the heal found in PostgreSQL. */
  readonly backlogRecordedAfterHealMs: number | undefined;
  /**
   * Full recovery: the latest of the three above, so orders are accepted again, every buyer is
   * answered ok, and nothing accepted before the heal is still unrecorded; undefined if any of
   * them did not happen while the load ran (the audit then says whether anything was lost).
   */
  readonly fullRecoveryMs: number | undefined;
  /** Open orders after settling. */
  readonly openAfterSettle: number;
  readonly audit: Audit;
}

/** Longest difference between consecutive `points` (sorted ascending). */
function longestGap(points: number[]): number {
  let longest = 0;
  for (let i = 1; i < points.length; i++) longest = Math.max(longest, points[i]! - points[i - 1]!);
  return longest;
}

/** The figures of one fault run, for the table and the assertions. */
export function summarize(run: FaultRun, books: Audit, marginMs = 500): FaultSummary {
  const { attempts, deadlineMs, startedAt } = run.load;
  const stoppedAt = run.load.stoppedAt ?? performance.now();
  const { injectedAt, healedAt } = run;
  const okEnds = attempts
    .filter((a) => a.code === 'ok')
    .map((a) => a.end)
    .sort((a, b) => a - b);
  const inFault = okEnds.filter((t) => t > injectedAt && t < healedAt);
  const counts = new Map<string, number>();
  for (const a of attempts) {
    counts.set(answerOf(a), (counts.get(answerOf(a)) ?? 0) + 1);
  }
  const inviting = attempts.filter((a) => retryInvitingCodes.has(a.code));
  let worst: Attempt | undefined;
  for (const a of attempts)
    if (worst === undefined || a.end - a.start > worst.end - worst.start) worst = a;
  const overrun = (a: Attempt) => a.end - a.start - deadlineMs;

  const firstAccept = okEnds.find((t) => t >= healedAt);
  const lastFailure = lastFailureEnd(attempts, injectedAt);
  // Failures until shortly before the load stopped: the buyers were not yet answered well again.
  const failingAtEnd = lastFailure > healedAt && stoppedAt - lastFailure < run.healthyForMs;
  const answersHealthy = failingAtEnd ? undefined : Math.max(0, lastFailure - healedAt);
  const backlog =
    run.backlogRecordedAt === undefined ? undefined : run.backlogRecordedAt - healedAt;
  const parts = [
    firstAccept === undefined ? undefined : firstAccept - healedAt,
    answersHealthy,
    backlog,
  ];
  return {
    fault: run.fault,
    faultMs: healedAt - injectedAt,
    attempts: attempts.length,
    acceptedAttempts: okEnds.length,
    acceptedDuringFault: inFault.length,
    longestGapDuringFaultMs: longestGap([injectedAt, ...inFault, healedAt]),
    longestGapOverallMs: longestGap([startedAt, ...okEnds, stoppedAt]),
    answers: [...counts.entries()].sort((a, b) => b[1] - a[1]),
    retryInviting: inviting.length,
    retryInvitingWithDelay: inviting.filter((a) => a.retryDelayMs !== undefined).length,
    worstOverrunMs: worst === undefined ? -deadlineMs : overrun(worst),
    worstOverrunAnswer: worst === undefined ? '' : answerOf(worst),
    overDeadline: attempts.filter((a) => overrun(a) > marginMs).length,
    firstAcceptAfterHealMs: parts[0],
    answersHealthyAfterHealMs: answersHealthy,
    backlogRecordedAfterHealMs: backlog,
    fullRecoveryMs: parts.some((p) => p === undefined)
      ? undefined
      : Math.max(...(parts as number[])),
    openAfterSettle: run.openAfterSettle,
    audit: books,
  };
}

// --- the checker ------------------------------------------------------------------------------

/**
 * What an attempt told its buyer, as Jepsen records operations: `ok` (accepted), `refused` (a
 * definite refusal: nothing happened, or a stored refusal), `unknown` (it may or may not have
 * happened: a timeout, a reset or dropped connection, no answer, `internal`, `unknown`, or
 * `unavailable OUTCOME_UNKNOWN`, and an `unavailable` without a reason, which no gate sends). A
 * refused connection is a refusal: the request never left the buyer.
 */
export function outcomeOf(a: Attempt): 'ok' | 'refused' | 'unknown' {
  if (a.code === 'ok') return 'ok';
  // No connection was made: nothing reached a gate.
  if (a.code === 'transport' && a.reason === 'ECONNREFUSED') return 'refused';
  if (a.code === 'unavailable')
    return a.reason === 'DEPENDENCY_UNAVAILABLE' ? 'refused' : 'unknown';
  if (['resource_exhausted', 'aborted', 'failed_precondition', 'not_found'].includes(a.code))
    return 'refused';
  if (
    ['invalid_argument', 'permission_denied', 'unauthenticated', 'already_exists'].includes(a.code)
  )
    return 'refused';
  return 'unknown';
}

/** The attempts of a run by {@link outcomeOf}. */
export function outcomeCounts(run: FaultRun): Record<'ok' | 'refused' | 'unknown', number> {
  const counts = { ok: 0, refused: 0, unknown: 0 };
  for (const a of run.load.attempts) counts[outcomeOf(a)]++;
  return counts;
}

/** One invariant of docs/invariants.md as the checker found it after a run. */
export interface InvariantResult {
  /** `I1` … `I7`. */
  readonly id: string;
  readonly name: string;
  /** true: holds; false: broken; undefined: not checked here (the detail says why). */
  readonly holds: boolean | undefined;
  /** The counts it was decided on, and what was not checked from outside. */
  readonly detail: string;
}

/**
 * After {@link audit}: reads Redis, PostgreSQL and Kafka (the worker's consumer lag) and reports
 * each invariant I1–I7 of docs/invariants.md with the counts it rests on. What cannot be seen
 * from outside is said in the detail, never counted as holding.
 */
export async function checkInvariants(
  system: FaultSystem,
  run: FaultRun,
  books: Audit,
): Promise<InvariantResult[]> {
  const skus = system.sales.map((s) => s.sku);
  const totalStock = system.sales.reduce((sum, s) => sum + s.totalStock, 0);
  const schema = `"${system.config.databaseSchema}"`;
  // Summed over the sales; null (missing) unless every sale has its product row.
  const product = await system.db.query<{
    stock: string | null;
    least: number | null;
    total: string | null;
  }>(
    `select case when count(*) = $2 then sum(stock) end as stock,
            case when count(*) = $2 then min(stock) end as least,
            case when count(*) = $2 then sum(total_stock) end as total
       from ${schema}.product where sku = any($1)`,
    [skus, skus.length],
  );
  const dbStock = product.rows[0]?.stock == null ? undefined : Number(product.rows[0].stock);
  const dbLeast = product.rows[0]?.least ?? undefined;
  const dbTotal = Number(product.rows[0]?.total ?? Number.NaN);
  // Each buyer order has a customer of its own: rows per customer are rows per idempotency key.
  const perCustomer = await system.db.query<{ customer: string; n: string }>(
    `select customer_id as customer, count(*) as n from ${schema}.orders where sku = any($1) group by customer_id`,
    [skus],
  );
  const rowsOf = new Map(perCustomer.rows.map((r) => [r.customer, Number(r.n)]));
  const loadCustomers = new Set(run.load.orders.map((o) => o.customerId));
  const keysWithTwoRows = [...rowsOf].filter(([c, n]) => loadCustomers.has(c) && n > 1).length;

  const attemptsByKey = Map.groupBy(run.load.attempts, (a) => a.key);
  const unknownOrders = run.load.orders.filter((o) =>
    (attemptsByKey.get(o.key) ?? []).some((a) => outcomeOf(a) === 'unknown'),
  );
  const unknownTwice = unknownOrders.filter(
    (o) => (rowsOf.get(o.customerId) ?? 0) > 1 || o.orderIds.size > 1,
  ).length;
  const unknownHappened = unknownOrders.filter((o) => (rowsOf.get(o.customerId) ?? 0) === 1).length;
  const refusedButRecorded = run.load.orders.filter(
    (o) => o.outcome === 'refused' && (rowsOf.get(o.customerId) ?? 0) > 0,
  ).length;
  const keyReused = run.load.attempts.filter((a) => a.reason === 'IDEMPOTENCY_KEY_REUSED').length;

  const topics = createTopics(system.config.topicPrefix);
  const kafka = new Kafka({ brokers: system.config.kafkaBrokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  let lag = Number.NaN;
  try {
    await admin.connect();
    const deadline = performance.now() + 20_000;
    for (;;) {
      lag = await consumerLag(admin, system.config.workerGroupId, topics.orders);
      if (lag === 0 || performance.now() > deadline) break;
      await sleep(500);
    }
  } catch {
    // lag stays NaN: reported as not measured
  } finally {
    await admin.disconnect();
  }

  const live = books.unitsLive; // total − live counter
  const inFlight = Math.max(books.outboxLeft, 0);
  const backlogS =
    run.backlogRecordedAt === undefined
      ? undefined
      : ((run.backlogRecordedAt - run.healedAt) / 1000).toFixed(1);
  return [
    {
      id: 'I1',
      name: 'never sell more than there is',
      holds:
        books.unitsAccepted <= totalStock &&
        books.unitsRecorded <= totalStock &&
        dbLeast !== undefined &&
        dbLeast >= 0,
      detail: `units accepted ${books.unitsAccepted}, recorded CONFIRMED ${books.unitsRecorded}, stock ${totalStock}; lowest database stock of the sales ${dbLeast ?? 'missing'} ≥ 0 (the sales are not sold out in these runs: the bound is checked, not raced)`,
    },
    {
      id: 'I2',
      name: 'stock adds up',
      holds:
        dbStock !== undefined &&
        dbTotal - dbStock === books.unitsRecorded &&
        live !== undefined &&
        totalStock - live + inFlight + books.unitsRecorded === totalStock,
      detail: `database: total ${dbTotal} − stock ${dbStock ?? 'missing'} = CONFIRMED units ${books.unitsRecorded}; Redis: live counter ${live === undefined ? 'missing' : totalStock - live} + in flight ${inFlight} + recorded ${books.unitsRecorded} = total ${totalStock}`,
    },
    {
      id: 'I3',
      name: 'no accepted order is lost',
      holds: books.lost.length === 0 && books.outboxLeft === 0,
      detail: `accepted orders ${books.accepted}, missing from PostgreSQL ${books.lost.length}, outbox entries left ${books.outboxLeft} (a host crash losing the last second of AOF is not injected here)`,
    },
    {
      id: 'I4',
      name: 'one row per order',
      holds: books.duplicateRows === 0 && keysWithTwoRows === 0,
      detail: `duplicate rows by order id ${books.duplicateRows}, idempotency keys with two rows ${keysWithTwoRows}`,
    },
    {
      id: 'I5',
      name: 'retries get the same answer',
      holds: books.splitKeys.length === 0 && keyReused === 0 && refusedButRecorded === 0,
      detail: `keys answered with two order ids ${books.splitKeys.length}, retries answered IDEMPOTENCY_KEY_REUSED ${keyReused}, orders refused yet recorded ${refusedButRecorded}; that a stored refusal replays identically is not checked here (integration tests)`,
    },
    {
      id: 'I6',
      name: 'an unknown outcome happens at most once',
      holds: unknownTwice === 0,
      detail: `orders with an unknown outcome ${unknownOrders.length} (became an order ${unknownHappened}, none ${unknownOrders.length - unknownHappened}), became two orders ${unknownTwice}; never answered definitely ${run.openAfterSettle}`,
    },
    {
      id: 'I7',
      name: 'the worker catches up',
      holds: Number.isNaN(lag) ? undefined : lag === 0 && backlogS !== undefined,
      detail: `backlog recorded after the heal: ${backlogS === undefined ? 'no' : `yes, ${backlogS} s`}; consumer lag after draining ${Number.isNaN(lag) ? 'not measured' : lag}`,
    },
  ];
}

/** One row of the fault-suite table: a run and its checker's verdicts. */
export interface FaultSuiteRow {
  readonly fault: string;
  /** Buyers, and attempts per second over the load. */
  readonly load: string;
  readonly outcomes: Record<'ok' | 'refused' | 'unknown', number>;
  readonly invariants: readonly InvariantResult[];
  /** Anything else the test checked, for the row's notes. */
  readonly notes?: string;
}

/** The row of `run`, checked by {@link checkInvariants}. */
export function faultSuiteRow(
  run: FaultRun,
  invariants: readonly InvariantResult[],
  notes?: string,
): FaultSuiteRow {
  const seconds = ((run.load.stoppedAt ?? performance.now()) - run.load.startedAt) / 1000;
  return {
    fault: run.fault,
    load: `${run.load.clients} buyers, ${(run.load.attempts.length / seconds).toFixed(0)} attempts/s over ${seconds.toFixed(0)} s`,
    outcomes: outcomeCounts(run),
    invariants,
    notes,
  };
}

/** The table of `rows` in Markdown, with each invariant's counts below it; written to `path`. */
export function writeFaultSuiteTable(path: string, rows: readonly FaultSuiteRow[]): string {
  const mark = (r: InvariantResult) =>
    r.holds === undefined ? 'not checked' : r.holds ? 'holds' : '**BROKEN**';
  const ids = ['I1', 'I2', 'I3', 'I4', 'I5', 'I6', 'I7'];
  const lines = [
    '# Fault suite',
    '',
    'Generated by `test/faults/fault-suite.test.ts` from its runs. Operations are PlaceOrder',
    'attempts as the buyers saw them: ok, refused (a definite refusal), unknown (timeout, reset,',
    'no answer, internal, unavailable OUTCOME_UNKNOWN). Every buyer retries an unknown outcome',
    'under the same idempotency key, failing over to the other gate when its gate does not answer.',
    '',
    `| fault | load | ok / refused / unknown | ${ids.join(' | ')} |`,
    `|---|---|---|${ids.map(() => '---').join('|')}|`,
    ...rows.map((row) => {
      const by = new Map(row.invariants.map((r) => [r.id, r]));
      const cells = ids.map((id) => {
        const r = by.get(id);
        return r === undefined ? '—' : mark(r);
      });
      const o = row.outcomes;
      return `| ${row.fault} | ${row.load} | ${o.ok} / ${o.refused} / ${o.unknown} | ${cells.join(' | ')} |`;
    }),
    '',
    '## Counts behind each verdict',
    '',
  ];
  for (const row of rows) {
    lines.push(`### ${row.fault}`, '');
    if (row.notes !== undefined) lines.push(row.notes, '');
    for (const r of row.invariants) lines.push(`- ${r.id} ${r.name}: ${mark(r)} — ${r.detail}`);
    lines.push('');
  }
  const text = lines.join('\n');
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
  return text;
}
