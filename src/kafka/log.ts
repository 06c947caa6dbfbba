/**
 * Routes kafkajs's own log lines into the process's pino logger (same format, same level),
 * except two kinds of line that say nothing is wrong:
 *
 * - A broker's answer carrying a retriable error (the coordinator still loading while a fresh
 *   broker starts, a leader election under way): kafkajs logs each at error level, then
 *   retries. They go out at info; if the retries run out, the failure that follows is logged
 *   at error level as before.
 * - The warning that limiting an idempotent producer's retries may invalidate exactly-once
 *   guarantees. The gate limits them on purpose (a publish must settle within the buyer's
 *   deadline) and replaces the producer after any failed send, so a new producer id starts
 *   fresh sequence numbers; the outbox relay publishes what was not acknowledged and the worker
 *   records each order once (docs/order-path.md, sections 6, 7 and 9). It goes out at debug.
 */
import { logLevel, type logCreator } from 'kafkajs';
import { createRequire } from 'node:module';
import type { Logger } from 'pino';

const levels = {
  [logLevel.NOTHING]: 'silent',
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
} as const;

/** kafkajs's table of broker error codes (its own module; the version is pinned and patched). */
const { errorCodes } = createRequire(import.meta.url)('kafkajs/src/protocol/error.js') as {
  readonly errorCodes: readonly { readonly message: string; readonly retriable: boolean }[];
};

/** The messages of the broker errors kafkajs retries. */
const retriableMessages: ReadonlySet<string> = new Set(
  errorCodes.filter((e) => e.retriable).map((e) => e.message),
);

/** The warning kafkajs gives every idempotent producer with limited retries. */
const limitedRetriesWarning =
  'Limiting retries for the idempotent producer may invalidate EoS guarantees';

/** The level a kafkajs line goes out at: its own, but for the two kinds above. */
function levelOf(level: logLevel, message: string, fields: Record<string, unknown>): logLevel {
  if (
    level === logLevel.ERROR &&
    message.startsWith('Response ') &&
    typeof fields.error === 'string' &&
    retriableMessages.has(fields.error)
  ) {
    return logLevel.INFO;
  }
  if (level === logLevel.WARN && message === limitedRetriesWarning) return logLevel.DEBUG;
  return level;
}

/** A kafkajs logCreator writing to `logger` (child logger `kafkajs`). */
export function kafkaLogCreator(logger: Logger): logCreator {
  const kafkaLogger = logger.child({ component: 'kafkajs' });
  return () =>
    ({ level, log }) => {
      const { message, ...fields } = log;
      const method = levels[levelOf(level, message, fields)];
      if (method !== 'silent') kafkaLogger[method](fields, message);
    };
}
