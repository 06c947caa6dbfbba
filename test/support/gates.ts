/** Several gates on one isolated config, without a worker, for tests of the order path alone. */
import type { Client } from '@connectrpc/connect';
import http from 'node:http';
import type { RedisClient } from '../../src/redis/client.js';
import { afterAll, beforeAll } from 'vitest';
import type { OrderGateService } from '../../gen/fluxgate/v1/order_gate_pb.js';
import type { Config } from '../../src/config.js';
import { startGate, type RunningGate } from '../../src/main-gate.js';
import type { Keys } from '../../src/redis/keys.js';
import { runMigrations } from '../../src/main-migrate.js';
import { dropTestData, isolatedConfig, redisFor } from './stack.js';
import { orderClient } from './wire.js';

/** The gates of one test file. */
export interface FileGates {
  readonly config: Config;
  readonly redis: RedisClient;
  readonly keys: Keys;
  /** A client of gate `i` (Connect binary over HTTP/1.1, connections kept alive). */
  readonly client: (i: number) => Client<typeof OrderGateService>;
  /** Base URL of gate `i`'s operations port (/metrics, /readyz). */
  readonly opsUrl: (i: number) => string;
}

/** Starts `count` gates before the file's tests and stops them after (registers the hooks). */
export function gatesForFile(count: number): FileGates {
  const config = isolatedConfig();
  const { redis, keys } = redisFor(config);
  const gates: RunningGate[] = [];
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const gate = (i: number): RunningGate => {
    const started = gates[i];
    if (started === undefined) throw new Error(`no gate ${i}: the file started ${count}`);
    return started;
  };
  beforeAll(async () => {
    // A gate asks the database whether a sale it does not have exists: it needs the tables.
    await runMigrations(config);
    for (let i = 0; i < count; i++) gates.push(await startGate(config));
  });
  afterAll(async () => {
    await Promise.all(gates.map((g) => g.close()));
    agent.destroy();
    redis.disconnect();
    await dropTestData(config);
  });
  return {
    config,
    redis,
    keys,
    client: (i) => orderClient(gate(i).url, agent),
    opsUrl: (i) => gate(i).opsUrl,
  };
}
