/**
 * Issue #14, a Redis Cluster master killed during a sale: under the steady load of eight buyers
 * on two gates (compiled processes, with a worker), the master serving the sale's slot is killed
 * (kill -9). Its replica is promoted, the gates find the new master, and the old master comes
 * back as its replica. The gates wait for one replica before saying "accepted"
 * (FLUXGATE_REDIS_WAIT_REPLICAS=1), so no acceptance can die with the master: nothing is lost,
 * no unit is sold twice (the live counter, PostgreSQL and the buyers' answers agree), and every
 * answer that invites a retry says when, in time.
 *
 * Runs only on the cluster (the cluster-faults project of vitest.config.ts).
 */
import { afterAll, expect, test } from 'vitest';
import {
  audit,
  brokenPromises,
  clusterMasterFailover,
  discrepancies,
  processLogs,
  runFault,
  stackCommand,
  startFaultSystem,
  summarize,
} from '../support/fault-load.js';
import { cleanUpAfterFile } from '../support/processes.js';

const cleanUp = cleanUpAfterFile();
// Registered after cleanUpAfterFile, so it runs first: the killed node is back for the next file.
afterAll(() => stackCommand('up', 'redis-cluster'));

test("the sale's master killed: its replica takes over, and nothing accepted is lost or sold twice", async () => {
  const system = await startFaultSystem({
    sku: 'FAILOVER-1',
    config: { redisWaitReplicas: 1 },
  });
  cleanUp.track(...system.services);
  cleanUp.dropDataOf(system.config);
  try {
    const run = await runFault(system, clusterMasterFailover(), { afterMaxMs: 40_000 });
    const books = await audit(system, run);
    const summary = summarize(run, books);
    const broken = brokenPromises(run);
    expect.soft(broken.withoutRetryDelay).toEqual({});
    expect.soft(broken.pastDeadline).toEqual({});
    // The sale went on: orders accepted before the kill and after the heal.
    expect
      .soft(run.load.attempts.some((a) => a.code === 'ok' && a.end < run.injectedAt))
      .toBe(true);
    expect.soft(summary.firstAcceptAfterHealMs).toBeDefined();
    expect.soft(discrepancies(run, books), processLogs(system)).toEqual({});
  } finally {
    await system.stop();
  }
});
