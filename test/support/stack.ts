/**
 * The local stack as a test sees it: a config isolated by its own Redis key prefix, Kafka topic
 * prefix, consumer group and database schema; a Redis client; polling; reading a topic; a
 * snapshot of every Redis key a test owns.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { isDeepStrictEqual } from 'node:util';
import { Kafka, logLevel, type KafkaMessage } from 'kafkajs';
import { loadConfig, type Config } from '../../src/config.js';
import { createOrm } from '../../src/persistence/orm.js';
import { connectRedis, masters, type RedisClient } from '../../src/redis/client.js';
import { createKeys, type Keys } from '../../src/redis/keys.js';
import { testTicketKeys } from './tickets.js';

/** A config for one test file: unique prefixes, an ephemeral port, quiet logs. */
export function isolatedConfig(overrides: Partial<Config> = {}): Config {
  const id = randomBytes(4).toString('hex');
  return loadConfig(process.env, {
    redisKeyPrefix: `t${id}`,
    topicPrefix: `t${id}.`,
    databaseSchema: `t${id}`,
    workerGroupId: `t${id}-worker`,
    gatePort: 0,
    gateOpsPort: 0,
    workerOpsPort: 0,
    logLevel: 'silent',
    shutdownGraceMs: 1000,
    // Every gate of a test signs waiting-room tickets with the same key.
    queueTicketKeys: testTicketKeys.map((k) => `${k.id}:${k.secret}`),
    ...overrides,
  });
}

/** A Redis client and the key builder for `config`. */
export function redisFor(config: Config): { redis: RedisClient; keys: Keys } {
  return { redis: connectRedis(config), keys: createKeys(config.redisKeyPrefix) };
}

/** Polls `probe` every 100 ms until it returns true; fails after `timeoutMs`. */
export async function eventually(
  probe: () => Promise<boolean>,
  timeoutMs = 30_000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Reads every record of `topic` from the beginning until `enough` says stop (or time runs out). */
export async function readTopic(
  config: Config,
  topic: string,
  enough: (records: KafkaMessage[]) => boolean,
  timeoutMs = 30_000,
): Promise<KafkaMessage[]> {
  const kafka = new Kafka({ brokers: config.kafkaBrokers, logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: `reader-${randomBytes(4).toString('hex')}` });
  const records: KafkaMessage[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        records.push(message);
      },
    });
    await eventually(async () => enough(records), timeoutMs, `records on ${topic}`);
  } finally {
    await consumer.disconnect();
  }
  return records;
}

/**
 * Every key under the config's prefix with its serialized value: a snapshot to compare. Read
 * until two readings in a row agree (at most ten), so that work under way is not caught
 * half-done. `settled`, given a gate's `placer.settled`, is awaited first: the gate completes
 * accepted orders up to FLUXGATE_COMPLETION_LINGER_MS after answering them, which two quick
 * readings can fall between.
 */
export async function redisSnapshot(
  redis: RedisClient,
  prefix: string,
  settled: () => Promise<void> = async () => undefined,
): Promise<Map<string, string>> {
  await settled();
  const read = async () => {
    const snapshot = new Map<string, string>();
    for (const key of (await keysMatching(redis, `${prefix}:*`)).sort()) {
      // null when the key expired between KEYS and DUMP (ioredis types it as always present).
      const dump = (await redis.dumpBuffer(key)) as Buffer | null;
      snapshot.set(key, dump?.toString('hex') ?? '');
    }
    return snapshot;
  };
  let last = await read();
  for (let i = 0; i < 10; i++) {
    const next = await read();
    if (isDeepStrictEqual(next, last)) break;
    last = next;
  }
  return last;
}

/** Deletes what a test left: its database schema and every Redis key under its prefix. */
export async function dropTestData(config: Config): Promise<void> {
  const orm = await createOrm(config.databaseUrl, config.databaseSchema);
  await orm.em.getConnection().execute(`drop schema if exists "${config.databaseSchema}" cascade`);
  await orm.close();
  const { redis } = redisFor(config);
  await deleteKeys(redis, await keysMatching(redis, `${config.redisKeyPrefix}:*`));
  redis.disconnect();
}

/** Every key matching `pattern`, from every master (a cluster spreads them). */
export async function keysMatching(redis: RedisClient, pattern: string): Promise<string[]> {
  if (redis.status !== 'ready') await once(redis, 'ready');
  const found = await Promise.all(masters(redis).map((node) => node.keys(pattern)));
  return found.flat();
}

/** Deletes `keys`, one DEL each: a cluster refuses a DEL whose keys lie in different slots. */
export async function deleteKeys(redis: RedisClient, keys: readonly string[]): Promise<void> {
  await Promise.all(keys.map((key) => redis.del(key)));
}
