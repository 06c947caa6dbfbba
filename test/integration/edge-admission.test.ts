/**
 * Edge admission on the real Redis: the lease script against the sale's bucket, a leased order
 * through place-order, and three compiled gate processes under a flood far over a sale's
 * admission rate, where the sale's global bound holds and refused requests barely touch Redis.
 */
import { createClient, type ConnectError } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { afterAll, expect, test } from 'vitest';
import { OrderGateService } from '../../gen/fluxgate/v1/order_gate_pb.js';
import { runMigrations } from '../../src/main-migrate.js';
import { createRedisLeaseSource } from '../../src/redis/lease-source.js';
import { registerScripts } from '../../src/redis/scripts.js';
import { metricsPage, sample } from '../support/metrics.js';
import {
  cleanUpAfterFile,
  envFor,
  freePort,
  spawnProcess,
  type Spawned,
} from '../support/processes.js';
import { loadTestSale, testReservationStore, testSale } from '../support/sales.js';
import { isolatedConfig, redisFor } from '../support/stack.js';
import { reasonOf } from '../support/wire.js';

const config = isolatedConfig();
const { redis, keys } = redisFor(config);
registerScripts(redis);
const cleanUp = cleanUpAfterFile();
cleanUp.dropDataOf(config);
afterAll(() => {
  redis.disconnect();
});

/** Redis's clock, ms. */
async function redisNowMs(): Promise<number> {
  const [s, us] = await redis.time();
  return Number(s) * 1000 + Math.floor(Number(us) / 1000);
}

test('lease-tokens: grants what the bucket has, nothing for a paused or unknown sale, and counts the edge refusals', async () => {
  const source = createRedisLeaseSource(redis, keys);
  await loadTestSale(redis, keys, testSale('LEASE-1', { admissionRate: 10, admissionBurst: 30 }));
  const first = await source.lease('LEASE-1', 20, 0);
  expect(first).toMatchObject({ granted: 20, waitMs: 0, rate: 10, burst: 30, paused: false });
  expect(Math.abs(first!.nowMs - (await redisNowMs()))).toBeLessThan(1000);
  const second = await source.lease('LEASE-1', 20, 7);
  // 10 left in the burst (plus what refilled in the meantime, under one more token).
  expect(second!.granted).toBe(10);
  expect(second!.waitMs).toBeGreaterThan(0);
  expect(await redis.hget(keys.stats('LEASE-1'), 'rate_limited')).toBe('7');

  await redis.hset(keys.sale('LEASE-1'), 'paused', '1');
  await redis.del(keys.saleBucket('LEASE-1')); // a full bucket again
  expect(await source.lease('LEASE-1', 5, 0)).toMatchObject({ granted: 0, paused: true });
  expect(await source.lease('NO-SUCH-SALE', 5, 0)).toBeUndefined();
});

test('a leased order leaves the sale bucket alone; the customer bucket and every other rule still apply', async () => {
  const store = testReservationStore(redis, keys, { customerRate: 1, customerBurst: 1 });
  const source = createRedisLeaseSource(redis, keys);
  await loadTestSale(redis, keys, testSale('LEASE-2', { admissionRate: 1, admissionBurst: 1 }));
  expect((await source.lease('LEASE-2', 1, 0))!.granted).toBe(1); // the bucket is dry now
  const order = (n: number, customerId: string) => ({
    orderId: `00000000-0000-7000-8000-00000000000${String(n)}`,
    sku: 'LEASE-2',
    quantity: 1,
    customerId,
    idempotencyKeyHash: `hash-${String(n)}`,
    acceptedAtMs: Date.now(),
    requestId: `r${String(n)}`,
  });
  expect((await store.reserve(order(1, 'ann'), 'f1', 'leased')).kind).toBe('reserved');
  // The same customer again, leased: her own bucket is dry.
  const again = await store.reserve(order(2, 'ann'), 'f2', 'leased');
  expect(again.kind === 'refused' && again.refusal.reason).toBe('RATE_LIMITED');
  // Another customer without a leased token meets the dry sale bucket: to the queue.
  const unleased = await store.reserve(order(3, 'bob'), 'f3', 'bucket');
  expect(unleased.kind).toBe('queued');
});

test('three gate processes under a flood: the sale admits within burst + rate x time, and a refused request costs Redis under 0.05 calls', async () => {
  const rate = 10;
  // A burst of 32 lets each lease call bring 16 tokens: one call per 1.6 s per gate.
  const burst = 32;
  await runMigrations(config);
  const gates: { process: Spawned; url: string; opsUrl: string }[] = [];
  for (let i = 0; i < 3; i++) {
    const gatePort = await freePort();
    const gateOpsPort = await freePort();
    const process = spawnProcess(
      'main-gate',
      envFor({ ...config, gatePort, gateOpsPort, logLevel: 'warn' }),
    );
    cleanUp.track(process);
    gates.push({
      process,
      url: `http://127.0.0.1:${String(gatePort)}`,
      opsUrl: `http://127.0.0.1:${String(gateOpsPort)}`,
    });
  }
  await Promise.all(
    gates.map(async (g) => {
      for (;;) {
        const ready = await fetch(`${g.opsUrl}/readyz`).then(
          (r) => r.ok,
          () => false,
        );
        if (ready) return;
        if (g.process.child.exitCode !== null) throw new Error(g.process.output());
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }),
  );

  const sku = 'EDGE-FLOOD';
  const startedMs = await redisNowMs();
  await loadTestSale(
    redis,
    keys,
    testSale(sku, { totalStock: 1_000_000, admissionRate: rate, admissionBurst: burst }),
  );
  // HTTP/2: one connection per gate, however many calls (the gate limits new connections
  // per client address, and a flood over HTTP/1.1 would open many).
  const clients = gates.map((g) =>
    createClient(
      OrderGateService,
      createConnectTransport({ baseUrl: g.url, httpVersion: '2', useBinaryFormat: true }),
    ),
  );
  /** The gates' counters, summed. */
  const gateTotals = async () => {
    const pages = await Promise.all(gates.map((g) => metricsPage(g.opsUrl)));
    const sum = (name: string, labels: Record<string, string> = {}) =>
      pages.reduce((total, page) => total + sample(page, name, labels), 0);
    return {
      pages,
      leaseCalls: sum('fluxgate_gate_admission_lease_calls_total'),
      scriptCalls: sum('fluxgate_gate_redis_script_seconds_count', { script: 'placeOrder' }),
      refusedAtEdge: sum('fluxgate_gate_edge_refusals_total', { reason: 'RATE_LIMITED' }),
    };
  };
  const floodMs = 6000;
  const until = Date.now() + floodMs;
  const counts = { accepted: 0, refused: 0 };
  let n = 0;
  const others = new Map<string, number>();
  let withoutDelay = 0;
  const flood = Promise.all(
    // 32 callers, each pausing 50 ms between calls: at most 640 calls/s, over 60 times the
    // rate, yet a bounded load on a machine whose other tests run beside this one.
    Array.from({ length: 32 }, async (_, caller) => {
      while (Date.now() < until) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        const i = n++;
        try {
          await clients[caller % 3]!.placeOrder({
            sku,
            quantity: 1,
            customerId: `c${String(i)}`,
            idempotencyKey: `k${String(i)}`,
          });
          counts.accepted++;
        } catch (error) {
          const reason = reasonOf(error) ?? String(error);
          if (reason === 'RATE_LIMITED') counts.refused++;
          else others.set(reason, (others.get(reason) ?? 0) + 1);
          if (!/^\d+$/.test((error as ConnectError).metadata.get('retry-after') ?? ''))
            withoutDelay++;
        }
      }
    }),
  );
  // The steady state, after each gate has gone to lease mode: the calls in flight when the
  // bucket first ran dry are refused by the script, a cost paid once per flood, not per request.
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const warm = { ...counts, ...(await gateTotals()) };
  await flood;
  const endedMs = await redisNowMs();
  const end = { ...counts, ...(await gateTotals()) };
  const seconds = (endedMs - startedMs) / 1000;
  const refused = end.refused - warm.refused;
  const leaseCalls = end.leaseCalls - warm.leaseCalls;
  // (The buyers' counts and the gates' are read a moment apart: a call in flight can make the
  // difference dip below zero.)
  const scriptRefusals = Math.max(
    0,
    end.scriptCalls - warm.scriptCalls - (end.accepted - warm.accepted),
  );
  const refusedAtEdge = end.refusedAtEdge - warm.refusedAtEdge;
  // Redis calls made for refused requests: the leases, and the scripts that refused.
  const callsPerRefusal = (leaseCalls + scriptRefusals) / refused;
  console.log(
    `edge admission, 3 gates, rate ${String(rate)}/s, the last ${((floodMs - 2000) / 1000).toFixed(0)} s of ` +
      `the flood: ${String(end.accepted - warm.accepted)} accepted, ${String(refused)} refused ` +
      `(${String(refusedAtEdge)} at the edge), ${String(leaseCalls)} lease calls, ` +
      `${String(scriptRefusals)} refusals by the script: ${callsPerRefusal.toFixed(4)} Redis calls per refusal`,
  );
  expect(Object.fromEntries(others)).toEqual({});
  expect(withoutDelay).toBe(0);
  // Far over the rate: ten times at least.
  expect(refused + end.accepted - warm.accepted).toBeGreaterThan(
    10 * rate * ((floodMs - 2000) / 1000),
  );
  // Every token came out of the one bucket while the sale existed.
  expect(end.accepted).toBeLessThanOrEqual(burst + rate * seconds);
  // And the sale does sell, at a good part of its rate, through the leases.
  expect(end.accepted).toBeGreaterThanOrEqual((rate * floodMs) / 1000 / 2);
  // Each gate went to lease mode: it took leases and refused at the edge.
  for (const page of end.pages) {
    expect(sample(page, 'fluxgate_gate_admission_lease_calls_total')).toBeGreaterThan(0);
    expect(
      sample(page, 'fluxgate_gate_edge_refusals_total', { reason: 'RATE_LIMITED' }),
    ).toBeGreaterThan(0);
  }
  expect(refusedAtEdge).toBeGreaterThan(refused * 0.9);
  expect(callsPerRefusal).toBeLessThanOrEqual(0.05);
  // The edge's refusals reach the sale's statistics with each gate's next lease call: all but
  // the last interval's (16 tokens' worth of time at this rate: 1.6 s) are in.
  const counted = Number(await redis.hget(keys.stats(sku), 'rate_limited'));
  expect(counted).toBeLessThanOrEqual(end.refused);
  expect(counted).toBeGreaterThan(warm.refused);
});
