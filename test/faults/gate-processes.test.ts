/**
 * FLUXGATE_GATE_PROCESSES=3 with the compiled gate: three processes answer on the one port
 * (told apart by the primary's merged /metrics and by their log lines), a process killed under
 * load is replaced and loses no accepted order, and SIGTERM to the primary stops all of them
 * cleanly with every order answered PENDING persisted; one that cannot start stops them all.
 */
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { ConnectError } from '@connectrpc/connect';
import { afterAll, describe, expect, test } from 'vitest';
import { OrderStatus } from '../../gen/fluxgate/v1/order_pb.js';
import { createFluxGateClient } from '../../src/client/node.js';
import { startWorker, type RunningWorker } from '../../src/main-worker.js';
import { createOrm } from '../../src/persistence/orm.js';
import { sample } from '../support/metrics.js';
import {
  cleanUpAfterFile,
  envFor,
  exited,
  freePort,
  spawnGate,
  spawnProcess,
} from '../support/processes.js';
import { createTestSale, testSale } from '../support/sales.js';
import { eventually, isolatedConfig, redisFor } from '../support/stack.js';
import { adminToken } from '../support/system.js';
import { orderClient } from '../support/wire.js';

const files = cleanUpAfterFile();
let worker: RunningWorker | undefined;
afterAll(() => worker?.close());

/** The JSON log lines of `output` (every process of the gate writes to the same stream). */
function logLines(output: string): Record<string, unknown>[] {
  return output.split('\n').flatMap((line) => {
    try {
      return line.startsWith('{') ? [JSON.parse(line) as Record<string, unknown>] : [];
    } catch {
      return [];
    }
  });
}

/** Whether a process with `pid` still exists. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('several gate processes (FLUXGATE_GATE_PROCESSES)', () => {
  test('three share the port, a killed one is replaced, SIGTERM stops all and loses nothing', async () => {
    const { config, gate, url } = await spawnGate({ gateProcesses: 3, shutdownGraceMs: 10_000 });
    files.track(gate);
    files.dropDataOf(config);
    await gate.waitFor(/"msg":"gate processes listening"/);
    const logs = () => logLines(gate.output());
    const opsUrl = String(logs().find((l) => l.msg === 'gate processes listening')?.ops);
    const scrape = async () => (await fetch(`${opsUrl}/metrics`)).text();
    /** The processes that said "gate listening": id and pid. */
    const listening = () =>
      logs()
        .filter((l) => l.msg === 'gate listening')
        .map((l) => ({ id: String(l.gateProcess), pid: Number(l.pid) }));
    expect(
      listening()
        .map((p) => p.id)
        .sort(),
    ).toEqual(['1', '2', '3']);
    expect(new Set(listening().map((p) => p.pid)).size).toBe(3);
    expect(listening().every((p) => p.pid !== gate.child.pid && alive(p.pid))).toBe(true);

    worker = await startWorker(config);
    const sku = 'PROC-1';
    const total = 1_000_000;
    await createTestSale(
      createFluxGateClient({ baseUrl: url, adminToken }).admin,
      testSale(sku, { totalStock: total }),
    );

    // Every call on a connection of its own: the primary hands each new one to the next process.
    const agent = new http.Agent({ keepAlive: false });
    const orders = orderClient(url, agent);
    const accepted = new Map<string, number>();
    let failed = 0;
    const order = async (customerId: string): Promise<void> => {
      try {
        const res = await orders.placeOrder(
          { sku, quantity: 1, customerId, idempotencyKey: randomUUID() },
          { timeoutMs: 5000 },
        );
        expect(res.status).toBe(OrderStatus.PENDING);
        accepted.set(res.orderId, 1);
      } catch (error) {
        if (!(error instanceof ConnectError)) throw error;
        failed++;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    /** Buyers ordering in a loop until the returned function is called (it waits for them). */
    const startLoad = (name: string) => {
      let stopped = false;
      const buyers = Array.from({ length: 4 }, async (_, b) => {
        for (let i = 0; !stopped; i++) await order(`${name}-${String(b)}-${String(i)}`);
      });
      return async () => {
        stopped = true;
        await Promise.all(buyers);
      };
    };
    const acceptedBy = (page: string, id: string) =>
      sample(page, 'fluxgate_gate_requests_total', {
        rpc: 'OrderGateService.PlaceOrder',
        outcome: 'accepted',
        gate_process: id,
      });

    // 1. Thirty orders, one connection each: more than one process answered them, each answer
    //    counted once on the primary's page and logged by the process that gave it.
    for (let i = 0; i < 30; i++) await order(`first-${String(i)}`);
    expect(accepted.size).toBe(30);
    const page = await scrape();
    const counts = ['1', '2', '3'].map((id) => acceptedBy(page, id));
    expect(counts.reduce((a, b) => a + b, 0)).toBe(30);
    expect(counts.filter((n) => n > 0).length).toBeGreaterThan(1);
    const loggedBy = new Map(
      logs()
        .filter((l) => l.msg === 'order accepted')
        .map((l) => [String(l.orderId), String(l.gateProcess)]),
    );
    const answeredBy = [...accepted.keys()].map((id) => loggedBy.get(id));
    expect(answeredBy.every((p) => p !== undefined && ['1', '2', '3'].includes(p))).toBe(true);
    expect(new Set(answeredBy).size).toBeGreaterThan(1);
    for (const id of ['1', '2', '3']) {
      expect(answeredBy.filter((p) => p === id).length, `process ${id}`).toBe(acceptedBy(page, id));
    }

    // 2. Process 2 killed outright under load: the primary starts process 4 in its place, which
    //    takes its share of new connections; the others publish what process 2 left reserved.
    const stopKillLoad = startLoad('kill');
    await eventually(async () => accepted.size >= 80, 60_000, 'orders under load');
    const victim = listening().find((p) => p.id === '2');
    expect(victim).toBeDefined();
    process.kill(victim!.pid, 'SIGKILL');
    await gate.waitFor(/"msg":"gate process exited; starting another"/);
    const exit = logs().find((l) => l.msg === 'gate process exited; starting another');
    expect(exit).toMatchObject({ exitedProcess: '2', exitedPid: victim!.pid, signal: 'SIGKILL' });
    await gate.waitFor(/"gateProcess":"4".*"msg":"gate listening"/);
    const replacement = listening().find((p) => p.id === '4');
    expect(replacement?.pid).not.toBe(victim!.pid);
    expect(alive(victim!.pid)).toBe(false);
    await eventually(async () => acceptedBy(await scrape(), '4') > 0, 30_000, 'process 4 answers');
    await stopKillLoad();
    const afterKill = await scrape();
    expect(sample(afterKill, 'fluxgate_gate_processes', { gate_process: 'primary' })).toBe(3);
    expect(
      sample(afterKill, 'fluxgate_gate_process_restarts_total', { gate_process: 'primary' }),
    ).toBe(1);
    expect(acceptedBy(afterKill, '2')).toBe(0); // gone from the page with its process
    const ready = await fetch(`${opsUrl}/readyz`);
    expect(ready.status).toBe(200);
    expect(Object.keys(((await ready.json()) as { checks: object }).checks).sort()).toEqual([
      '1/kafka',
      '1/redis',
      '3/kafka',
      '3/redis',
      '4/kafka',
      '4/redis',
    ]);
    const { redis, keys } = redisFor(config);
    try {
      // Whatever process 2 had reserved but not published is relayed by the others.
      await eventually(async () => (await redis.xlen(keys.outbox(sku))) === 0, 30_000, 'outbox');

      // 3. SIGTERM to the primary under load: every process drains and stops, the primary exits 0.
      const stopTermLoad = startLoad('term');
      const before = accepted.size;
      await eventually(async () => accepted.size >= before + 50, 60_000, 'orders under load');
      const members = listening().filter((p) => p.id !== '2');
      gate.child.kill('SIGTERM');
      const code = await exited(gate.child);
      await stopTermLoad();
      expect(code, gate.output().slice(-3000)).toBe(0);
      const stopped = logs().filter((l) => l.msg === 'gate stopped');
      expect(stopped.map((l) => String(l.gateProcess)).sort()).toEqual(['1', '3', '4']);
      expect(logs().some((l) => l.msg === 'gate processes stopped')).toBe(true);
      expect(members.filter((p) => alive(p.pid))).toEqual([]);

      // Every order answered PENDING is recorded and confirmed. Only calls cut off by the kill
      // can have left a recorded order whose answer nobody saw.
      const orm = await createOrm(config.databaseUrl, config.databaseSchema);
      try {
        const recorded = async () =>
          orm.em
            .getConnection()
            .execute<{ order_id: string; status: string }[]>('select order_id, status from orders');
        await eventually(
          async () => (await recorded()).length >= accepted.size,
          60_000,
          `${String(accepted.size)} orders recorded`,
        );
        const rows = await recorded();
        const ids = new Set(rows.map((r) => r.order_id));
        expect([...accepted.keys()].filter((id) => !ids.has(id))).toEqual([]);
        expect(rows.length - accepted.size).toBeLessThanOrEqual(failed);
        expect(rows.every((r) => r.status === 'CONFIRMED')).toBe(true);
        // Nothing half-done: an empty outbox, and the live stock is what the rows took.
        expect(await redis.xlen(keys.outbox(sku))).toBe(0);
        expect(Number(await redis.get(keys.stock(sku)))).toBe(total - rows.length);
      } finally {
        await orm.close();
      }
    } finally {
      redis.disconnect();
      agent.destroy();
    }
  });

  test('a process that cannot start: the primary stops the others and exits 1, naming it', async () => {
    const config = isolatedConfig({ gateProcesses: 2, logLevel: 'info', startupTimeoutSeconds: 2 });
    const gate = spawnProcess('main-gate', {
      ...envFor(config),
      FLUXGATE_REDIS_URL: `redis://127.0.0.1:${String(await freePort())}`,
    });
    files.track(gate);
    expect(await exited(gate.child)).toBe(1);
    expect(gate.output()).toMatch(
      /^startup: gate process [12] exited \(code 1, .*\) before it listened$/m,
    );
    expect(gate.output()).not.toMatch(/^\s+at /m);
    const pids = logLines(gate.output())
      .filter((l) => l.gateProcess === '1' || l.gateProcess === '2')
      .map((l) => Number(l.pid));
    expect(new Set(pids).size).toBe(2);
    expect(pids.filter(alive)).toEqual([]);
  });
});
