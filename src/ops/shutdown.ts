/**
 * Shutdown steps that cannot hang the process: each gets a time limit, and a step that fails
 * or overruns is logged and passed over, so SIGTERM always ends in an exit. Safe because what
 * matters is already settled by then: answered orders are in Kafka or the outbox, and the
 * worker's uncommitted batch is redelivered (and de-duplicated) on the next start.
 */
import type { Logger } from 'pino';

/** Runs `steps` in order, each within `limitMs`. */
export async function shutDown(
  steps: readonly (readonly [what: string, step: () => unknown])[],
  limitMs: number,
  logger: Pick<Logger, 'warn'>,
): Promise<void> {
  for (const [what, step] of steps) {
    let timer: NodeJS.Timeout | undefined;
    const overran = new Promise<'overran'>((resolve) => {
      timer = setTimeout(() => {
        resolve('overran');
      }, limitMs);
    });
    try {
      const finished = Promise.resolve(step()).then(() => 'done' as const);
      if ((await Promise.race([finished, overran])) === 'overran') {
        logger.warn({ step: what, limitMs }, 'shutdown step did not finish in time; going on');
      }
    } catch (error) {
      logger.warn({ err: error, step: what }, 'shutdown step failed; going on');
    } finally {
      clearTimeout(timer);
    }
  }
}
