/**
 * Issue #20, the broker: killed, stopped cleanly, hung. Each under a steady load of eight buyers
 * on two gates (compiled processes, with a worker), each buyer retrying an unknown outcome under
 * the same idempotency key with a 2 s deadline per attempt. The sale goes on through the outage;
 * every answer that invites a retry says when; no call outlives its deadline; and after the
 * broker is back every accepted order is recorded once, and the books add up.
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
  type Fault,
  type FaultTimings,
} from '../support/fault-load.js';
import { cleanUpAfterFile } from '../support/processes.js';

const cleanUp = cleanUpAfterFile();
// Registered after cleanUpAfterFile, so it runs first (vitest runs after-hooks in reverse): the
// broker is continued and started again before the processes stop and the data is dropped.
afterAll(restoreStack);

/** Runs `fault` under load and checks what every broker fault must keep. */
async function sellThrough(sku: string, fault: Fault, timings: FaultTimings) {
  const system = await startFaultSystem({ sku });
  cleanUp.track(...system.services);
  cleanUp.dropDataOf(system.config);
  try {
    const run = await runFault(system, fault, timings);
    const books = await audit(system, run);
    const summary = summarize(run, books);
    const broken = brokenPromises(run);

    // Every answer inviting a retry carries RetryInfo; no call outlives its deadline.
    expect.soft(broken.withoutRetryDelay).toEqual({});
    expect.soft(broken.pastDeadline).toEqual({});
    // The sale goes on through the outage: orders are accepted while the broker is away.
    expect.soft(summary.acceptedDuringFault).toBeGreaterThan(0);
    // Nothing lost: every buyer learned the outcome, every accepted order is recorded once,
    // nothing a buyer was refused is recorded, and the units add up everywhere.
    expect.soft(discrepancies(run, books), processLogs(system)).toEqual({});
  } finally {
    await system.stop();
  }
}

test('broker killed (kill -9) and restarted: the sale goes on, every order recorded once', async () => {
  await sellThrough('KAFKA-KILL', faults['kafka-kill'], { holdMs: 6000 });
});

test('broker stopped cleanly and started again: the sale goes on, every order recorded once', async () => {
  await sellThrough('KAFKA-STOP', faults['kafka-stop'], { holdMs: 3000 });
});

test('broker hung (SIGSTOP 8 s, then SIGCONT): the sale goes on, every order recorded once', async () => {
  await sellThrough('KAFKA-HANG', faults['kafka-hang'], { holdMs: 8000 });
});
