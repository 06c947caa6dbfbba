/**
 * Fault injection against the real local stack: stop and start its servers, run the compiled
 * worker as a child process that can be killed.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { settings, type Config } from '../../src/config.js';

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

/** Resolves with the exit code (or signal) once `child` has exited. */
export function exited(child: ChildProcess): Promise<number | NodeJS.Signals | null> {
  if (child.exitCode !== null || child.signalCode !== null)
    return Promise.resolve(child.exitCode ?? child.signalCode);
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
}
