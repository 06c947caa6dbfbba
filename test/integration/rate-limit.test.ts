/** Admission: the sale's token bucket, by the Redis clock, against a flood of buyers. */
import { timestampMs } from '@bufbuild/protobuf/wkt';
import type { ConnectError } from '@connectrpc/connect';
import http from 'node:http';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startGate, type RunningGate } from '../../src/main-gate.js';
import { loadTestSale, testSale } from '../support/sales.js';
import { isolatedConfig, redisFor } from '../support/stack.js';
import { orderClient, reasonOf } from '../support/wire.js';

const config = isolatedConfig();
const { redis, keys } = redisFor(config);
let gate: RunningGate;
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

beforeAll(async () => {
  gate = await startGate(config);
});

afterAll(async () => {
  await gate.close();
  agent.destroy();
  redis.disconnect();
});

test('token bucket: a flood admits at most burst + rate x time in any window, with no boundary double burst', async () => {
  const rate = 20;
  const burst = 10;
  await loadTestSale(
    redis,
    keys,
    testSale('BUCKET-1', { totalStock: 1_000_000, admissionRate: rate, admissionBurst: burst }),
  );
  const client = orderClient(gate.url, agent);
  const admittedAt: number[] = [];
  const refusals = new Set<string | undefined>();
  const started = Date.now();
  const runForMs = 3500;
  let i = 0;
  // 16 callers in closed loops: far more demand than 20 orders per second.
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (Date.now() - started < runForMs) {
        const n = i++;
        try {
          const accepted = await client.placeOrder({
            sku: 'BUCKET-1',
            quantity: 1,
            customerId: `flood-${n}`,
            idempotencyKey: `flood-${n}`,
          });
          // When the gate admitted it, not when the answer arrived: answers that waited for
          // the same Kafka acknowledgement arrive together, however far apart they were admitted.
          admittedAt.push(timestampMs(accepted.acceptedAt!));
        } catch (error) {
          refusals.add(reasonOf(error));
          expect((error as ConnectError).metadata.get('retry-after')).toMatch(/^\d+$/);
        }
      }
    }),
  );
  const elapsedS = (Date.now() - started) / 1000;
  expect(refusals).toEqual(new Set(['RATE_LIMITED']));
  expect(admittedAt.length).toBeLessThanOrEqual(burst + rate * elapsedS + 1);
  expect(admittedAt.length).toBeGreaterThanOrEqual(burst + rate * (elapsedS - 1)); // it does admit at the rate
  // Any 1-second window (a fixed window's boundary included) holds at most burst + rate.
  admittedAt.sort((a, b) => a - b);
  for (let lo = 0, hi = 0; hi < admittedAt.length; hi++) {
    while (admittedAt[hi]! - admittedAt[lo]! > 1000) lo++;
    expect(hi - lo + 1).toBeLessThanOrEqual(burst + rate + 1);
  }
  // Rate-limited requests store no idempotency entry: the same key is admitted later.
  const idemKeys = await redis.keys(`${config.redisKeyPrefix}:{BUCKET-1}:idem:*`);
  expect(idemKeys).toHaveLength(admittedAt.length);
});
