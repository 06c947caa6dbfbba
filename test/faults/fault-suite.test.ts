/**
 * The fault suite of issue #16, built the way Jepsen builds one: buyers record every PlaceOrder
 * as ok, refused or unknown and retry an unknown one under the same idempotency key, failing
 * over to the other gate; the fault is really injected into the real processes (two compiled
 * gates, a worker, and the stack's servers); after healing and draining, a checker reads Redis,
 * Kafka and PostgreSQL and reports each invariant of docs/invariants.md (I1–I7) with its counts.
 * Each test asserts that every invariant holds; the table of all runs is written to
 * test-results/fault-suite.md. The faults already covered by selling-through-faults-kafka and
 * -redis (broker killed, stopped, hung; Redis hung, killed, emptied) are not repeated here.
 *
 * The last test is not a fault under load: a clock step on the gate's host cannot be made here,
 * so it shows instead that no order decision depends on the gate's clock.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { afterAll, expect, test } from 'vitest';
import { OrderGateService } from '../../gen/fluxgate/v1/order_gate_pb.js';
import { createTopics } from '../../src/kafka/topics.js';
import { startGate } from '../../src/main-gate.js';
import {
  audit,
  checkInvariants,
  discrepancies,
  faultSuiteRow,
  faults,
  poisonRecordCount,
  processLogs,
  restoreStack,
  runFault,
  startFaultSystem,
  writeFaultSuiteTable,
  type Fault,
  type FaultRun,
  type FaultSuiteRow,
  type FaultSystem,
  type FaultTimings,
} from '../support/fault-load.js';
import { cleanUpAfterFile } from '../support/processes.js';
import { loadTestSale, testSale } from '../support/sales.js';
import { isolatedConfig, readTopic, redisFor } from '../support/stack.js';
import { reasonOf } from '../support/wire.js';

const rows: FaultSuiteRow[] = [];
afterAll(() => {
  writeFaultSuiteTable(join(process.cwd(), 'test-results/fault-suite.md'), rows);
});
const cleanUp = cleanUpAfterFile();
// Registered after cleanUpAfterFile, so it runs first (vitest runs after-hooks in reverse): every
// server is continued and started again before the processes stop and the data is dropped.
afterAll(restoreStack);

/** Short phases: the suite must fit in CI beside everything else. */
const short: FaultTimings = { beforeMs: 2000, afterMinMs: 2000, healthyForMs: 2000 };

/**
 * Runs `fault` under load on a fresh system, checks every invariant after draining, adds the
 * row to the table, and expects every invariant to hold and the books to add up. `more` checks
 * what is particular to the fault and returns a note for the table.
 */
async function checked(
  sku: string,
  fault: Fault,
  more?: (system: FaultSystem, run: FaultRun) => Promise<string>,
): Promise<void> {
  const system = await startFaultSystem({ sku, ...fault.system });
  cleanUp.track(...system.services);
  cleanUp.dropDataOf(system.config);
  try {
    const run = await runFault(system, fault, short);
    const books = await audit(system, run);
    const invariants = await checkInvariants(system, run, books);
    const notes = await more?.(system, run);
    rows.push(faultSuiteRow(run, invariants, notes));
    expect
      .soft(
        invariants.filter((r) => r.holds !== true),
        processLogs(system),
      )
      .toEqual([]);
    expect.soft(discrepancies(run, books), processLogs(system)).toEqual({});
  } finally {
    await system.stop();
  }
}

test('gate kill -9 three times, alternating, buyers failing over: every invariant holds', async () => {
  await checked('SUITE-GATE-KILL', faults['gate-kill-repeated'], async (_, run) => {
    const failovers = run.load.attempts.filter(
      (a) => a.code === 'transport' || a.code === 'no_answer',
    ).length;
    // The kills really reached buyers: some calls lost their connection and were retried.
    expect.soft(failovers).toBeGreaterThan(0);
    return `Attempts that lost their gate (reset, refused, no answer) and failed over: ${failovers}.`;
  });
});

test('worker kill -9 after its database commit, before its offsets: the redelivered batch adds no row', async () => {
  await checked('SUITE-WORKER-FAILPOINT', faults['worker-failpoint'], async (system) => {
    const fired = system.worker.output().match(/"orders":(\d+)[^\n]*failpoint/)?.[1];
    expect.soft(fired).toBeDefined();
    return `The failpoint fired after committing a batch of ${fired ?? '?'} orders; the next worker got that batch again.`;
  });
});

test('worker SIGSTOP past the buyers retry window, then SIGCONT: every invariant holds', async () => {
  await checked('SUITE-WORKER-HANG', faults['worker-hang-long']);
});

test('Kafka slow, black-holed and reset through our TCP proxy, then healed: every invariant holds', async () => {
  await checked('SUITE-KAFKA-PROXY', faults['kafka-proxy'], async (system, run) => {
    // The gates and the worker really went through the proxy, and buyers were still served.
    expect.soft(system.kafkaProxy!.accepted).toBeGreaterThan(0);
    const during = run.load.attempts.filter(
      (a) => a.code === 'ok' && a.end > run.injectedAt && a.end < run.healedAt,
    ).length;
    expect.soft(during).toBeGreaterThan(0);
    return `Connections through the proxy: ${system.kafkaProxy!.accepted}; orders accepted while the broker was slow or unreachable: ${during}.`;
  });
});

test('PostgreSQL immediate shutdown during consumption, started again: every invariant holds', async () => {
  await checked('SUITE-PG-KILL', faults['postgres-kill']);
});

test('poison and duplicate records straight on the topic: poison dead-lettered, duplicates recorded once', async () => {
  await checked('SUITE-POISON', faults['kafka-poison'], async (system) => {
    const topics = createTopics(system.config.topicPrefix);
    const dead = await readTopic(
      system.config,
      topics.deadLetter,
      (r) => r.length >= poisonRecordCount,
      20_000,
    ).catch(() => []);
    expect.soft(dead.length).toBe(poisonRecordCount);
    return `Dead letters: ${dead.length} of ${poisonRecordCount} poison records; 20 order records written a second time.`;
  });
});

/**
 * A clock that is the real one plus `skewMs`: installed as the global `Date` before the gate is
 * built, so every `Date.now()` and `new Date()` the gate makes (its wiring keeps `Date.now`
 * itself) reads it. Timers are not touched: only what the gate reads as the time moves.
 */
function skewedClock(): { set(ms: number): void; restore(): void } {
  const RealDate = Date;
  let skewMs = 0;
  class SkewedDate extends RealDate {
    constructor(...args: unknown[]) {
      if (args.length === 0) super(RealDate.now() + skewMs);
      else super(...(args as [string]));
    }
    static override now(): number {
      return RealDate.now() + skewMs;
    }
  }
  globalThis.Date = SkewedDate as DateConstructor;
  return {
    set(ms) {
      skewMs = ms;
    },
    restore() {
      globalThis.Date = RealDate;
    },
  };
}

test("no decision depends on the gate's clock: skewed ±10 years per call, the same answers", async () => {
  const tenYears = 10 * 365 * 24 * 3_600_000;
  const config = isolatedConfig({ logLevel: 'warn' });
  cleanUp.dropDataOf(config);
  const { redis, keys } = redisFor(config);
  const clock = skewedClock();
  const gate = await startGate(config);
  try {
    const client = createClient(
      OrderGateService,
      createConnectTransport({ baseUrl: gate.url, httpVersion: '1.1' }),
    );
    const place = async (sku: string, skewMs: number) => {
      clock.set(skewMs);
      const answer = await client
        .placeOrder({ sku, quantity: 1, customerId: randomUUID(), idempotencyKey: randomUUID() })
        .then(
          () => 'ok',
          (e: unknown) => reasonOf(e) ?? String(e),
        );
      clock.set(0);
      return answer;
    };
    const now = Date.now();
    // Each sale twice: once sold from by a gate whose clock jumps ten years either way on every
    // call, once by the same gate on the true clock. Admission 3 at once, then 1 a second.
    const sales = {
      open: { startsAtMs: now - 1000, endsAtMs: now + 3_600_000 },
      ended: { startsAtMs: now - 3_600_000, endsAtMs: now - 1000 },
      scheduled: { startsAtMs: now + 3_600_000, endsAtMs: now + 7_200_000 },
    };
    const decisions: Record<string, { skewed: string[]; true: string[] }> = {};
    for (const [name, window] of Object.entries(sales)) {
      decisions[name] = { skewed: [], true: [] };
      for (const run of ['skewed', 'true'] as const) {
        const sku = `CLOCK-${name}-${run}`;
        await loadTestSale(
          redis,
          keys,
          testSale(sku, { ...window, admissionRate: 1, admissionBurst: 3 }),
        );
        for (let i = 0; i < 4; i++) {
          const skew = run === 'true' ? 0 : i % 2 === 0 ? tenYears : -tenYears;
          decisions[name][run].push(await place(sku, skew));
        }
      }
    }
    // A gate clock ten years ahead would have ended the open sale and refilled its bucket; ten
    // years behind would not have opened it. Redis TIME decided instead, the same both ways.
    expect(decisions).toEqual({
      open: {
        skewed: ['ok', 'ok', 'ok', 'RATE_LIMITED'],
        true: ['ok', 'ok', 'ok', 'RATE_LIMITED'],
      },
      ended: { skewed: Array(4).fill('SALE_ENDED'), true: Array(4).fill('SALE_ENDED') },
      scheduled: {
        skewed: Array(4).fill('SALE_NOT_OPEN'),
        true: Array(4).fill('SALE_NOT_OPEN'),
      },
    });
    const all = Object.values(decisions).flatMap((d) => [...d.skewed, ...d.true]);
    rows.push({
      fault: 'gate clock stepped ±10 years on every call (in-process gate, Date skewed)',
      load: '1 buyer, 24 sequential orders on 6 sales',
      outcomes: {
        ok: all.filter((d) => d === 'ok').length,
        refused: all.filter((d) => d !== 'ok').length,
        unknown: 0,
      },
      invariants: [],
      notes:
        'Not a fault under load: a clock step on the host is out of reach here. The same three ' +
        'sales (open, ended, not yet started; admission burst 3, rate 1/s) sold from with the ' +
        "gate's clock ten years ahead and behind, alternately, and with the true clock: " +
        Object.entries(decisions)
          .map(([n, d]) => `${n}: ${d.skewed.join(', ')} | ${d.true.join(', ')}`)
          .join('; ') +
        '. The window and both token buckets are decided in place-order.lua on Redis TIME ' +
        "(admission.lua); the gate's clock only stamps accepted_at and measures deadlines. " +
        'Seen meanwhile: the broker refuses a record stamped ten years ahead (Kafka limits how ' +
        'far in the future a record timestamp may be), so a gate clock far ahead does not change ' +
        'a decision but fails its publishes: the orders wait in the outbox for the relay.',
    });
  } finally {
    clock.restore();
    await gate.close();
    redis.disconnect();
  }
});
