/**
 * Process entry shared by the gate and the worker: load config (one clear line per problem,
 * exit 2), start (a dependency unreachable for the whole start-up timeout: one line, exit 1),
 * then stop gracefully on SIGTERM / SIGINT; a second signal forces exit. A gate process forked
 * by a cluster primary also stops when the primary asks (once: that never forces), and tells
 * the primary when it has started.
 */
import { pathToFileURL } from 'node:url';
import { ConfigError, loadConfig, type Config } from './config.js';
import { clusterMember } from './ops/cluster.js';
import { StartupError } from './ops/startup.js';

/** Something running that can be stopped. */
export interface Closable {
  close(): Promise<void>;
}

/** True when the module at `moduleUrl` is the script node was asked to run. */
export function isEntryPoint(moduleUrl: string): boolean {
  return process.argv[1] !== undefined && moduleUrl === pathToFileURL(process.argv[1]).href;
}

/**
 * The configuration from the environment, or undefined after printing one `config: …` line
 * per problem to stderr (the caller exits 2).
 */
export function loadConfigOrReport(): Config | undefined {
  try {
    return loadConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const line of error.problems) console.error(`config: ${line}`);
    return undefined;
  }
}

/**
 * Runs `start` as the process's whole life. A `start` that returns nothing is a one-shot
 * command: the process exits 0 when it resolves.
 */
export async function runMain(
  start: (config: Config) => Promise<Closable | undefined>,
): Promise<void> {
  const config = loadConfigOrReport();
  if (config === undefined) process.exit(2);
  let running: Closable | undefined;
  let stopping = false;
  const stop = (why: string, closable: Closable) => {
    if (stopping) {
      console.error(`${why} again: exiting now`);
      process.exit(1);
    }
    stopping = true;
    closable.close().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error('shutdown failed', error);
        process.exit(1);
      },
    );
  };
  const member = clusterMember();
  // Asked during start-up there is nothing to drain yet. A Ctrl-C reaches the primary's
  // processes both directly and through the primary: its request never forces an exit.
  member?.onStop(() => {
    if (running === undefined) process.exit(0);
    if (!stopping) stop('stop from the primary', running);
  });
  try {
    running = await start(config);
  } catch (error) {
    if (!(error instanceof StartupError)) throw error;
    console.error(`startup: ${error.message}`);
    process.exit(1);
  }
  if (running === undefined) process.exit(0);
  const closable = running;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      stop(signal, closable);
    });
  }
  member?.started();
}
