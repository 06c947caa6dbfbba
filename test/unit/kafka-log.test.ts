/**
 * src/kafka/log.ts: kafkajs's lines reach the process's logger at their own level, but for a
 * broker answer with a retriable error (info: kafkajs retries it) and the warning about an
 * idempotent producer's limited retries (debug: the gate limits them on purpose).
 */
import { logLevel } from 'kafkajs';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { expect, test } from 'vitest';
import { kafkaLogCreator } from '../../src/kafka/log.js';

/** Logs each line through the creator; answers the level name each came out at, and its message. */
function levelsOf(lines: { level: logLevel; message: string; error?: string }[]): string[] {
  const out: string[] = [];
  const logger = pino(
    { level: 'trace' },
    new Writable({
      write(chunk: Buffer, _, done) {
        const line = JSON.parse(chunk.toString()) as { level: number; msg: string };
        out.push(`${pino.levels.labels[line.level] ?? line.level}: ${line.msg}`);
        done();
      },
    }),
  );
  const log = kafkaLogCreator(logger)(logLevel.DEBUG);
  for (const { level, message, error } of lines) {
    log({
      namespace: 'Connection',
      level,
      label: '',
      log: { timestamp: '', logger: 'kafkajs', message, ...(error ? { error } : {}) },
    });
  }
  return out;
}

test('a retriable broker error is logged at info, a lasting one at error', () => {
  expect(
    levelsOf([
      {
        level: logLevel.ERROR,
        message: 'Response InitProducerId(key: 22, version: 1)',
        error: "The coordinator is loading and hence can't process requests for this group",
      },
      {
        level: logLevel.ERROR,
        message: 'Response Produce(key: 0, version: 7)',
        error:
          'There is no leader for this topic-partition as we are in the middle of a leadership election',
      },
      {
        level: logLevel.ERROR,
        message: 'Response Produce(key: 0, version: 7)',
        error: 'Not authorized to access topics: [Topic authorization failed]',
      },
      { level: logLevel.ERROR, message: 'Failed to send messages: boom' },
    ]),
  ).toEqual([
    'info: Response InitProducerId(key: 22, version: 1)',
    'info: Response Produce(key: 0, version: 7)',
    'error: Response Produce(key: 0, version: 7)',
    'error: Failed to send messages: boom',
  ]);
});

test('the limited-retries warning is debug; other warnings stay warnings', () => {
  expect(
    levelsOf([
      {
        level: logLevel.WARN,
        message: 'Limiting retries for the idempotent producer may invalidate EoS guarantees',
      },
      { level: logLevel.WARN, message: 'something else' },
      { level: logLevel.INFO, message: 'Starting' },
    ]),
  ).toEqual([
    'debug: Limiting retries for the idempotent producer may invalidate EoS guarantees',
    'warn: something else',
    'info: Starting',
  ]);
});
