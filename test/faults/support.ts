/**
 * Fault injection against the real local stack: stop and start its servers, run the compiled
 * worker as a child process that can be killed, stream orders straight into Kafka.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { promisify } from 'node:util';
import type { MikroORM } from '@mikro-orm/postgresql';
import { Kafka, logLevel } from 'kafkajs';
import { settings, type Config } from '../../src/config.js';
import type { AcceptedOrder } from '../../src/domain/order.js';
import { encodeOrderAccepted } from '../../src/kafka/codec.js';
import { createTopics, ensureTopics } from '../../src/kafka/topics.js';
import { runMigrations } from '../../src/main-migrate.js';
import { createOrm } from '../../src/persistence/orm.js';
import { adminToken } from '../clients/support.js';
import { randomAcceptedOrder } from '../fixtures/orders.js';
import { isolatedConfig } from '../integration/support.js';

const run = promisify(execFile);
const stackScript = new URL('../../scripts/stack.sh', import.meta.url).pathname;

/** Stops one server of the local stack (waits until it is gone). */
export async function stopServer(name: 'redis' | 'postgres' | 'kafka'): Promise<void> {
  await run('bash', [stackScript, 'down', name]);
}

/** Starts one server of the local stack (waits until it answers). */
export async function startServer(name: 'redis' | 'postgres' | 'kafka'): Promise<void> {
  await run('bash', [stackScript, 'up', name], { timeout: 120_000 });
}

/** The environment that makes a child process read `config`. */
export function envFor(config: Config): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const [key, setting] of Object.entries(settings)) {
    const value = config[key as keyof Config];
    env[setting.env] = Array.isArray(value) ? value.join(',') : String(value);
  }
  return env;
}

/** Runs the compiled worker (npm test builds it first) as a child process. */
export function spawnWorker(config: Config): ChildProcess {
  const script = new URL('../../dist/src/main-worker.js', import.meta.url).pathname;
  return spawn(process.execPath, [script], {
    env: envFor(config),
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

/** A compiled process of ours (npm test builds it first) with its output captured. */
export interface Spawned {
  readonly child: ChildProcess;
  /** Everything it printed so far, stdout and stderr interleaved. */
  output(): string;
  /** Resolves once its output matches `pattern`; rejects after `timeoutMs` or if it exits. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
}

/** Runs `dist/src/<script>.js` with `env`, capturing its output. */
export function spawnProcess(script: 'main-gate' | 'main-worker', env: NodeJS.ProcessEnv): Spawned {
  const path = new URL(`../../dist/src/${script}.js`, import.meta.url).pathname;
  const child = spawn(process.execPath, [path], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  const append = (chunk: Buffer) => {
    text += chunk.toString();
  };
  child.stdout.on('data', append);
  child.stderr.on('data', append);
  return {
    child,
    output: () => text,
    waitFor: (pattern, timeoutMs = 60_000) =>
      new Promise((resolve, reject) => {
        const deadline = Date.now() + timeoutMs;
        const poll = setInterval(() => {
          if (pattern.test(text)) {
            clearInterval(poll);
            resolve();
          } else if (child.exitCode !== null || Date.now() > deadline) {
            clearInterval(poll);
            reject(new Error(`${script} never printed ${String(pattern)}; it printed:\n${text}`));
          }
        }, 50);
      }),
  };
}

/** A compiled gate on a free port, with a migrated schema (its admin API writes sales). */
export async function spawnGate(overrides: Partial<Config> = {}) {
  const config = isolatedConfig({
    adminToken,
    gatePort: await freePort(),
    logLevel: 'info',
    ...overrides,
  });
  await runMigrations(config);
  const gate = spawnProcess('main-gate', envFor(config));
  await gate.waitFor(/"msg":"gate listening"/);
  return { config, gate, url: `http://127.0.0.1:${String(config.gatePort)}` };
}

/** A TCP port nothing listens on right now. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Resolves with the exit code (or signal) once `child` has exited. */
export function exited(child: ChildProcess): Promise<number | NodeJS.Signals | null> {
  if (child.exitCode !== null || child.signalCode !== null)
    return Promise.resolve(child.exitCode ?? child.signalCode);
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
}

/**
 * A stream of orders for one product straight into the order topic, bypassing the gate: a
 * migrated schema with the product, a producer, and the orders to send.
 */
export interface OrderStream {
  readonly orm: MikroORM;
  readonly orders: readonly AcceptedOrder[];
  /** Sends orders[from, to) in chunks, pausing a little between chunks (a stream, not a dump). */
  produce(from: number, to: number): Promise<void>;
  /** Orders recorded in the database, or -1 while it cannot answer. */
  recorded(): Promise<number>;
  /** Disconnects and drops the test schema. */
  close(): Promise<void>;
}

/** Prepares `total` orders of `sku` (quantity by index) against a product with plenty of stock. */
export async function createOrderStream(
  config: Config,
  sku: string,
  total: number,
  quantity: (i: number) => number,
): Promise<OrderStream> {
  await runMigrations(config);
  const orm = await createOrm(config.databaseUrl, config.databaseSchema);
  await orm.em.getConnection().execute(
    `insert into product (sku, name, stock, total_stock, per_customer_limit, starts_at, ends_at, admission_rate, admission_burst)
     values (?, ?, 1000000, 1000000, 1000, now(), now() + interval '1 hour', 1000, 1000)`,
    [sku, sku],
  );
  const topics = createTopics(config.topicPrefix);
  const kafka = new Kafka({ brokers: config.kafkaBrokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, topics);
  await admin.disconnect();
  const producer = kafka.producer();
  await producer.connect();
  const orders = Array.from({ length: total }, (_, i) =>
    randomAcceptedOrder(sku, quantity(i), `c${i}`),
  );
  return {
    orm,
    orders,
    async produce(from, to) {
      for (let i = from; i < to; i += 100) {
        const chunk = orders.slice(i, Math.min(i + 100, to));
        await producer.send({
          topic: topics.orders,
          acks: -1,
          messages: chunk.map((o) => ({ key: o.sku, value: Buffer.from(encodeOrderAccepted(o)) })),
        });
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    },
    async recorded() {
      try {
        const [row] = await orm.em
          .getConnection()
          .execute<{ n: string }[]>('select count(*) as n from orders');
        return Number(row?.n);
      } catch {
        return -1;
      }
    },
    async close() {
      await producer.disconnect();
      await orm.em.getConnection().execute(`drop schema "${config.databaseSchema}" cascade`);
      await orm.close();
    },
  };
}
