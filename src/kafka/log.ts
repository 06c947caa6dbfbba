/** Routes kafkajs's own log lines into the process's pino logger (same format, same level). */
import { logLevel, type logCreator } from 'kafkajs';
import type { Logger } from 'pino';

const levels = {
  [logLevel.NOTHING]: 'silent',
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
} as const;

/** A kafkajs logCreator writing to `logger` (child logger `kafkajs`). */
export function kafkaLogCreator(logger: Logger): logCreator {
  const kafkaLogger = logger.child({ component: 'kafkajs' });
  return () =>
    ({ level, log }) => {
      const { message, ...fields } = log;
      const method = levels[level];
      if (method !== 'silent') kafkaLogger[method](fields, message);
    };
}
