/**
 * Processes of our own and of the stack: stop and start the stack's servers, run the compiled
 * gate and worker as child processes that can be signalled, killed or frozen, and run any
 * program to its end.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { promisify } from 'node:util';
import { settings, type Config } from '../../src/config.js';
import { runMigrations } from '../../src/main-migrate.js';
import { afterAll } from 'vitest';
import { dropTestData, isolatedConfig } from './stack.js';
import { adminToken } from './system.js';

const execFileAsync = promisify(execFile);
const stackScript = new URL('../../scripts/stack.sh', import.meta.url).pathname;

/** Stops one server of the local stack (waits until it is gone). */
export async function stopServer(name: 'redis' | 'postgres' | 'kafka'): Promise<void> {
  await execFileAsync('bash', [stackScript, 'down', name]);
}

/** Starts one server of the local stack (waits until it answers). */
export async function startServer(name: 'redis' | 'postgres' | 'kafka'): Promise<void> {
  await execFileAsync('bash', [stackScript, 'up', name], { timeout: 120_000 });
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

/** A running process with its output captured. */
export interface Spawned {
  readonly child: ChildProcess;
  /** Everything it printed so far, stdout and stderr interleaved. */
  output(): string;
  /** Resolves once its output matches `pattern`; rejects after `timeoutMs` or if it exits. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
}

/** Runs `file` with `args` and `env`, capturing its output. */
export function spawnProgram(
  file: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Spawned {
  const child = spawn(file, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  const append = (chunk: Buffer) => {
    text += chunk.toString();
  };
  child.stdout.on('data', append);
  child.stderr.on('data', append);
  const name = [file, ...args].join(' ');
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
            reject(new Error(`${name} never printed ${String(pattern)}; it printed:\n${text}`));
          }
        }, 50);
      }),
  };
}

/** Runs the compiled `dist/src/<script>.js` (npm test builds it first) with `env`. */
export function spawnProcess(script: 'main-gate' | 'main-worker', env: NodeJS.ProcessEnv): Spawned {
  const path = new URL(`../../dist/src/${script}.js`, import.meta.url).pathname;
  return spawnProgram(process.execPath, [path], env);
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

/** What a test file spawned and whose data it wrote, cleaned up after its tests. */
export interface FileCleanUp {
  /** Stopped with SIGTERM (and waited for) after the file's tests. */
  readonly track: (...processes: Spawned[]) => void;
  /** This config's database schema and Redis keys are dropped after the file's tests. */
  readonly dropDataOf: (config: Config) => void;
}

/** Registers the file's clean-up: its processes stopped, then its data dropped. */
export function cleanUpAfterFile(): FileCleanUp {
  const running: Spawned[] = [];
  const configs: Config[] = [];
  afterAll(async () => {
    for (const p of running) {
      p.child.kill('SIGTERM');
      await exited(p.child);
    }
    for (const config of configs) await dropTestData(config);
  });
  return {
    track: (...processes) => running.push(...processes),
    dropDataOf: (config) => configs.push(config),
  };
}
