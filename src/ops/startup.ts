/**
 * Start-up against dependencies that may not be up yet (compose starts everything at once):
 * each connection step is retried with backoff and reported on one log line per attempt,
 * until the start-up timeout; then the process stops with one clear line.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';

/**
 * Raised when the process cannot start: a dependency stayed unreachable for the whole start-up
 * timeout, or a gate process of a cluster primary exited before it served.
 */
export class StartupError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'StartupError';
  }
}

/** Runs `step` until it succeeds, backing off from 250 ms to 5 s, for at most `timeoutSeconds`. */
export async function retryStartup<T>(
  what: string,
  step: () => Promise<T>,
  options: { logger: Logger; timeoutSeconds: number },
): Promise<T> {
  const deadline = Date.now() + options.timeoutSeconds * 1000;
  for (let attempt = 1, delay = 250; ; attempt++, delay = Math.min(delay * 2, 5000)) {
    try {
      return await step();
    } catch (error) {
      if (Date.now() + delay > deadline)
        throw new StartupError(
          `${what}: still unreachable after ${String(options.timeoutSeconds)} s: ${error instanceof Error ? error.message : String(error)}`,
          { cause: error },
        );
      options.logger.warn(
        {
          attempt,
          retryInMs: delay,
          error: error instanceof Error ? error.message : String(error),
        },
        `${what}: unreachable, retrying`,
      );
      await sleep(delay);
    }
  }
}
