import { defineConfig } from 'vitest/config';

/**
 * The Redis Cluster of the local stack (scripts/stack-env.sh exports its URL; npm test starts
 * it). The order path, the worker and the faults that do not stop Redis itself run on it as well,
 * as the projects below whose names start with `cluster`.
 */
const clusterUrl = process.env.FLUXGATE_STACK_REDIS_CLUSTER_URL;
const onCluster = { FLUXGATE_REDIS_URL: clusterUrl ?? '' };
const clusterProjects =
  clusterUrl === undefined
    ? []
    : [
        {
          test: {
            name: 'cluster',
            include: ['test/integration/**/*.test.ts', 'test/cluster/**/*.test.ts'],
            exclude: [
              // A TCP proxy in front of one Redis server: no cluster equivalent.
              'test/integration/overload.test.ts',
              // Kills a master: with the faults, one file at a time.
              'test/cluster/redis-failover.test.ts',
            ],
            env: onCluster,
            testTimeout: 60_000,
            hookTimeout: 60_000,
          },
        },
        {
          test: {
            name: 'cluster-faults',
            include: [
              'test/cluster/redis-failover.test.ts',
              'test/faults/many-workers.test.ts',
              'test/faults/worker-crash.test.ts',
              'test/faults/kafka-outage.test.ts',
            ],
            env: onCluster,
            // Like faults: one file at a time, after everything else (and after faults).
            fileParallelism: false,
            sequence: { groupOrder: 2 },
            testTimeout: 180_000,
            hookTimeout: 120_000,
          },
        },
      ];

export default defineConfig({
  test: {
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          // Real servers: each file isolates its data by key prefix, topics and schema.
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'security',
          include: ['test/security/**/*.test.ts'],
          // A gate in the test's own process, attacked over loopback; each file its own gate.
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'clients',
          include: ['test/clients/**/*.test.ts'],
          // Real gate and worker; the Go build and Chromium take a while on a cold machine.
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          name: 'faults',
          include: ['test/faults/**/*.test.ts'],
          // These stop and start the shared servers: one file at a time, after everything else.
          fileParallelism: false,
          sequence: { groupOrder: 1 },
          testTimeout: 180_000,
          hookTimeout: 120_000,
        },
      },
      ...clusterProjects,
    ],
    maxWorkers: 2,
    // The JSON report lets .ci/run print a plain "N passed, N failed" closing line.
    reporters: ['default', ['json', { outputFile: 'test-results/vitest.json' }]],
  },
});
