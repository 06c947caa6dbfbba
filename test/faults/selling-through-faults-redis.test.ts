/**
 * Issue #20, Redis: hung, killed and restarted from its AOF, emptied. Each under a steady load of
 * eight buyers on two gates (compiled processes, with a worker), each buyer retrying an unknown
 * outcome under the same idempotency key with a 2 s deadline per attempt. No order can be taken
 * while Redis is away, but every answer that invites a retry says when, no call outlives its
 * deadline, nothing accepted is lost, and after a data loss the sale comes back by itself, with
 * every customer's purchases still counted against the per-customer limit.
 *
 * Behaviour, not timing: how long the recovery takes is measured by `npm run bench:faults`.
 */
import { afterAll, expect, test } from 'vitest';
import {
  audit,
  brokenPromises,
  discrepancies,
  faults,
  processLogs,
  restoreStack,
  runFault,
  startFaultSystem,
  summarize,
  type Audit,
  type FaultRun,
  type FaultSystem,
} from '../support/fault-load.js';
import { cleanUpAfterFile } from '../support/processes.js';
import { eventually } from '../support/stack.js';
import { reasonOf } from '../support/wire.js';

const cleanUp = cleanUpAfterFile();
// Registered after cleanUpAfterFile, so it runs first (vitest runs after-hooks in reverse):
// Redis is continued and started again before the processes stop and the data is dropped.
afterAll(restoreStack);

/** What every Redis fault must keep: answers that say when to retry, in time; nothing lost. */
function expectKeptPromises(system: FaultSystem, run: FaultRun, books: Audit): void {
  const summary = summarize(run, books);
  const broken = brokenPromises(run);
  expect.soft(broken.withoutRetryDelay).toEqual({});
  expect.soft(broken.pastDeadline).toEqual({});
  // The sale is back by itself: orders accepted after the heal, and every buyer answered ok
  // again before the load stopped.
  expect.soft(summary.firstAcceptAfterHealMs).toBeDefined();
  expect.soft(summary.answersHealthyAfterHealMs).toBeDefined();
  // Nothing lost: every buyer learned the outcome, every accepted order is recorded once,
  // nothing a buyer was refused is recorded, and the units add up everywhere.
  expect.soft(discrepancies(run, books), processLogs(system)).toEqual({});
}

test('Redis hung (SIGSTOP 3 s): buyers are told when to retry, in time, and nothing is lost', async () => {
  const system = await startFaultSystem({ sku: 'REDIS-HANG' });
  cleanUp.track(...system.services);
  cleanUp.dropDataOf(system.config);
  try {
    const run = await runFault(system, faults['redis-hang'], { holdMs: 3000 });
    const books = await audit(system, run);
    expectKeptPromises(system, run, books);
  } finally {
    await system.stop();
  }
});

test('Redis killed (kill -9) and restarted from its AOF: buyers are told when to retry, in time, and nothing is lost', async () => {
  const system = await startFaultSystem({ sku: 'REDIS-KILL' });
  cleanUp.track(...system.services);
  cleanUp.dropDataOf(system.config);
  try {
    const run = await runFault(system, faults['redis-kill']);
    const books = await audit(system, run);
    expectKeptPromises(system, run, books);
  } finally {
    await system.stop();
  }
});

test('Redis loses its data: the sale comes back by itself, per-customer limits intact, nothing lost', async () => {
  const system = await startFaultSystem({ sku: 'REDIS-WIPE', sale: { perCustomerLimit: 2 } });
  cleanUp.track(...system.services);
  cleanUp.dropDataOf(system.config);
  try {
    // A customer buys up to the limit, and the worker records it, before the loss.
    const first = await system.place(0, { customerId: 'at-the-limit', quantity: 2 });
    await eventually(
      async () => (await system.recordedOrders()).has(first.orderId),
      30_000,
      'the order at the limit recorded',
    );

    const run = await runFault(system, faults['redis-wipe'], { afterMaxMs: 40_000 });
    const books = await audit(system, run);
    expectKeptPromises(system, run, books);

    // No operator called Reconcile, yet the customer's purchases came back with the sale.
    const again = await system
      .place(1, { customerId: 'at-the-limit', quantity: 1 })
      .catch((e: unknown) => e);
    expect.soft(reasonOf(again)).toBe('PURCHASE_LIMIT_REACHED');
  } finally {
    await system.stop();
  }
});
