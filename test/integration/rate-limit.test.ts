/** Admission: the sale's token bucket, by the Redis clock, against a flood of buyers. */
import { timestampMs } from '@bufbuild/protobuf/wkt';
import http from 'node:http';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startGate, type RunningGate } from '../../src/main-gate.js';
import { loadTestSale, testSale } from '../support/sales.js';
import { isolatedConfig, keysMatching, redisFor } from '../support/stack.js';
import { buyInTurn } from '../support/queue.js';
import { orderClient, reasonOf } from '../support/wire.js';

/** One gate with leases off (every order asks the script's bucket) and one with the default. */
const leaseMsByGate = [0, 50] as const;
const config = isolatedConfig();
const { redis, keys } = redisFor(config);
const gates: RunningGate[] = [];
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

beforeAll(async () => {
  for (const admissionLeaseMs of leaseMsByGate)
    gates.push(await startGate({ ...config, admissionLeaseMs }));
});

afterAll(async () => {
  await Promise.all(gates.map((g) => g.close()));
  agent.destroy();
  redis.disconnect();
});

/**
 * Without leases the script's bucket is the bound: burst + rate x window. With leases a token
 * may be spent up to a lease's lifetime after it left the bucket (two intervals; at this rate
 * and burst an interval is half the burst's time, 250 ms): burst + rate x (window + 0.5 s).
 */
test.each([
  { leaseMs: 0, slackS: 0 },
  { leaseMs: 50, slackS: 0.5 },
])(
  'token bucket (leases every $leaseMs ms): a flood admits at most burst + rate x (time + $slackS s) in any window, with no boundary double burst',
  async ({ leaseMs, slackS }) => {
    const rate = 20;
    const burst = 10;
    const sku = `BUCKET-${String(leaseMs)}`;
    await loadTestSale(
      redis,
      keys,
      testSale(sku, { totalStock: 1_000_000, admissionRate: rate, admissionBurst: burst }),
    );
    const gate = gates[leaseMsByGate.indexOf(leaseMs as 0 | 50)]!;
    const client = orderClient(gate.url, agent);
    const admittedAt: number[] = [];
    const refusals = new Set<string | undefined>();
    const started = Date.now();
    const runForMs = 3500;
    let i = 0;
    // 16 callers in closed loops, each a buyer who waits in the queue as told, then the next
    // buyer: far more demand than 20 orders per second.
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (Date.now() - started < runForMs) {
          const n = i++;
          const accepted = await buyInTurn(
            client,
            { sku, quantity: 1, customerId: `flood-${n}`, idempotencyKey: `flood-${n}` },
            started + runForMs,
            {
              onRefusal: (error) => {
                refusals.add(reasonOf(error));
                expect(error.metadata.get('retry-after')).toMatch(/^\d+$/);
              },
            },
          );
          // When the gate admitted it, not when the answer arrived: answers that waited for
          // the same Kafka acknowledgement arrive together, however far apart they were admitted.
          if (accepted !== undefined) admittedAt.push(timestampMs(accepted.acceptedAt!));
        }
      }),
    );
    const elapsedS = (Date.now() - started) / 1000;
    expect(refusals).toEqual(new Set(['RATE_LIMITED']));
    // Every token came out of the bucket during the flood, whichever way it was spent.
    expect(admittedAt.length).toBeLessThanOrEqual(burst + rate * elapsedS + 1);
    // It does admit at the rate, the queue's included (a lease may lapse with up to a burst
    // unspent).
    expect(admittedAt.length).toBeGreaterThanOrEqual(
      burst + rate * (elapsedS - 1) - (slackS > 0 ? burst : 0),
    );
    // Any 1-second window (a fixed window's boundary included) holds at most burst + rate, plus
    // with leases the tokens taken up to a lease's lifetime before the window.
    admittedAt.sort((a, b) => a - b);
    for (let lo = 0, hi = 0; hi < admittedAt.length; hi++) {
      while (admittedAt[hi]! - admittedAt[lo]! > 1000) lo++;
      expect(hi - lo + 1).toBeLessThanOrEqual(burst + rate * (1 + slackS) + 1);
    }
    // Rate-limited requests store no idempotency entry: the same key is admitted later.
    const idemKeys = await keysMatching(redis, `${config.redisKeyPrefix}:{${sku}}:idem:*`);
    expect(idemKeys).toHaveLength(admittedAt.length);
  },
);
