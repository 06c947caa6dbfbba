/**
 * Shutdown steps that cannot hang the process: each gets a time limit, and a step that fails
 * or overruns is logged and passed over, so SIGTERM always ends in an exit. Safe because what
 * matters is already settled by then: answered orders are in Kafka or the outbox, and the
 * worker's uncommitted batch is redelivered (and de-duplicated) on the next start.
 */
import type { Logger } from 'pino';
import { TimeLimitError, withTimeLimit } from '../time-limit.js';

/** Runs `steps` in order, each within `limitMs`. */
export async function shutDown(
  steps: readonly (readonly [what: string, step: () => unknown])[],
  limitMs: number,
  logger: Pick<Logger, 'warn'>,
): Promise<void> {
  for (const [what, step] of steps) {
    try {
      await withTimeLimit(Promise.resolve(step()), limitMs, what);
    } catch (error) {
      if (error instanceof TimeLimitError) {
        logger.warn({ step: what, limitMs }, 'shutdown step did not finish in time; going on');
      } else {
        logger.warn({ err: error, step: what }, 'shutdown step failed; going on');
      }
    }
  }
}
