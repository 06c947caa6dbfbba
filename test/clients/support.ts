/**
 * A real gate and worker for the client tests, on their own Redis prefix, topics and schema,
 * and a way to run the clients' programs against them.
 */
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createFluxGateClient, type FluxGateClient } from '../../src/client/node.js';
import type { Config } from '../../src/config.js';
import { startGate, type RunningGate } from '../../src/main-gate.js';
import { startWorker, type RunningWorker } from '../../src/main-worker.js';
import { isolatedConfig } from '../integration/support.js';

/** The admin token every client test uses. */
export const adminToken = 'clients-test-admin-token';

/** A gate, a worker and a typed client with the admin token. */
export interface System {
  readonly config: Config;
  readonly gate: RunningGate;
  readonly worker: RunningWorker;
  readonly client: FluxGateClient;
  /** Creates an open sale of `stock` units (generous admission unless overridden). */
  openSale(sku: string, stock: number, extra?: SaleOptions): Promise<void>;
  close(): Promise<void>;
}

/** What a test sale may change from the defaults (generous admission, 10 per customer). */
export interface SaleOptions {
  readonly rate?: number;
  readonly burst?: number;
  readonly limit?: number;
}

/** Creates a sale of `stock` units through the admin API, open now for an hour. */
export async function openSale(
  client: FluxGateClient,
  sku: string,
  stock: number,
  extra: SaleOptions = {},
): Promise<void> {
  await client.admin.upsertSale({
    sale: {
      sku,
      name: `Sale ${sku}`,
      totalStock: BigInt(stock),
      perCustomerLimit: extra.limit ?? 10,
      startsAt: timestampFromMs(Date.now() - 1000),
      endsAt: timestampFromMs(Date.now() + 3_600_000),
      admissionRate: extra.rate ?? 10_000,
      admissionBurst: extra.burst ?? 10_000,
    },
  });
}

/** Starts a worker (which migrates the schema) and a gate. */
export async function startSystem(overrides: Partial<Config> = {}): Promise<System> {
  const config = isolatedConfig({ adminToken, ...overrides });
  const worker = await startWorker(config);
  const gate = await startGate(config);
  const client = createFluxGateClient({ baseUrl: gate.url, adminToken });
  return {
    config,
    gate,
    worker,
    client,
    openSale: (sku, stock, extra) => openSale(client, sku, stock, extra),
    async close() {
      await gate.close();
      await worker.close();
    },
  };
}

const execFileAsync = promisify(execFile);

/** What a finished program printed, and its exit code. */
export interface Ran {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a program to its end; a non-zero exit is reported, not thrown. */
export async function run(
  file: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<Ran> {
  try {
    const { stdout, stderr } = await execFileAsync(file, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      timeout: options.timeoutMs ?? 120_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number | string; stdout?: string; stderr?: string };
    if (typeof e.code !== 'number') throw error;
    return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}
