/**
 * AdminService.WatchSaleStats against a real gate and worker: refused without the admin token,
 * not_found for an unknown sale, figures equal to what the orders did (counters, stock, outbox,
 * lag, and rates whose sum over the snapshots is the accepted count), the waiting room's people
 * and wait, and one read per sale per interval however many consoles watch, counted by the
 * gate's reads metric.
 */
import { durationMs, timestampMs } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError } from '@connectrpc/connect';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { SaleLiveStats } from '../../gen/fluxgate/v1/admin_pb.js';
import { WaitingRoomTicketSchema } from '../../gen/fluxgate/v1/errors_pb.js';
import { SaleState } from '../../gen/fluxgate/v1/sale_pb.js';
import { metricsPage, sample } from '../support/metrics.js';
import { eventually } from '../support/stack.js';
import { adminAuth, startSystem, type System } from '../support/system.js';

let system: System;

beforeAll(async () => {
  system = await startSystem({ saleWatchPollMs: 100 });
});
afterAll(async () => {
  await system.close();
});

/** The error the first message of a watch of `sku` with `headers` ends with. */
async function watchError(sku: string, headers: Record<string, string>): Promise<unknown> {
  const end = new AbortController();
  try {
    const watch = system.admin.watchSaleStats({ sku }, { headers, signal: end.signal });
    await watch[Symbol.asyncIterator]().next();
  } catch (error) {
    return error;
  } finally {
    end.abort();
  }
  return undefined;
}

/** Snapshots of `sku` until `done` says stop (checked on each), the watch then ended. */
async function watchUntil(
  sku: string,
  done: (seen: readonly SaleLiveStats[]) => boolean,
): Promise<SaleLiveStats[]> {
  const seen: SaleLiveStats[] = [];
  // Ended by its signal: leaving the loop alone does not cancel a gRPC stream of connect-node.
  const end = new AbortController();
  try {
    for await (const { stats } of system.admin.watchSaleStats(
      { sku },
      { ...adminAuth, signal: end.signal },
    )) {
      if (stats === undefined) throw new Error('a snapshot without stats');
      seen.push(stats);
      if (done(seen)) break;
    }
  } finally {
    end.abort();
  }
  return seen;
}

/** The estimated wait of a snapshot, ms (unset: none). */
const waitMs = (s: SaleLiveStats | undefined) =>
  s?.estimatedWait === undefined ? undefined : durationMs(s.estimatedWait);

const reads = async () =>
  sample(await metricsPage(system.gate.opsUrl), 'fluxgate_gate_sale_watch_reads_total');

describe('WatchSaleStats', () => {
  test('without the admin token, or with a wrong one, the watch is refused', async () => {
    await system.createSale('WS-AUTH');
    const tries: Record<string, string>[] = [{}, { authorization: 'Bearer not-the-token' }];
    for (const headers of tries) {
      const error = await watchError('WS-AUTH', headers);
      expect(ConnectError.from(error).code).toBe(Code.Unauthenticated);
    }
  });

  test('an unknown sale is not_found', async () => {
    const error = await watchError('WS-NONE', adminAuth.headers);
    expect(ConnectError.from(error).code).toBe(Code.NotFound);
  });

  test('the figures are what the orders did; the rates add up to the accepted orders', async () => {
    await system.createSale('WS-1', { totalStock: 5 });
    const before = await reads();
    // Watching while the orders go in: the rates come from the counters' change between reads.
    const watching = watchUntil('WS-1', (seen) => {
      const last = seen.at(-1)?.counters;
      return last?.confirmed === 5n && last.soldOutRefusals === 1n;
    });
    await eventually(async () => (await reads()) > before, 30_000, 'the first read');
    for (let i = 0; i < 5; i++) await system.place('WS-1', `ws-buyer-${i}`);
    await expect(system.place('WS-1', 'ws-late')).rejects.toThrow(/no units left/);
    const seen = await watching;

    const last = seen.at(-1);
    expect(last?.counters).toMatchObject({
      sku: 'WS-1',
      accepted: 5n,
      soldOutRefusals: 1n,
      pending: 0n,
      confirmed: 5n,
      rejected: 0n,
      deadLettered: 0n,
    });
    expect(last).toMatchObject({
      unitsLeft: 0n,
      state: SaleState.SOLD_OUT,
      outboxDepth: 0n,
      queueLength: 0n,
    });
    // Figures read one interval apart, in order.
    const times = seen.map((s) => (s.readAt === undefined ? 0 : timestampMs(s.readAt)));
    expect(times.every((t, i) => i === 0 || t > (times[i - 1] ?? 0))).toBe(true);
    // rate × interval, summed: every accepted order and refusal counted once.
    let accepted = 0;
    let refused = 0;
    for (let i = 1; i < seen.length; i++) {
      const seconds = ((times[i] ?? 0) - (times[i - 1] ?? 0)) / 1000;
      accepted += (seen[i]?.admissionRate ?? 0) * seconds;
      refused += (seen[i]?.refusalRate ?? 0) * seconds;
    }
    const first = seen[0]?.counters;
    expect(accepted).toBeCloseTo(5 - Number(first?.accepted ?? 0), 6);
    expect(refused).toBeCloseTo(1 - Number(first?.soldOutRefusals ?? 0), 6);
    expect(seen[0]).toMatchObject({ admissionRate: 0, refusalRate: 0 });
  });

  test('the consumer lag is the worker’s: orders wait while it is stopped, then drain', async () => {
    await system.createSale('WS-LAG', { totalStock: 10 });
    await system.stopWorker();
    try {
      for (let i = 0; i < 3; i++) await system.place('WS-LAG', `lag-buyer-${i}`);
      const behind = await watchUntil('WS-LAG', (seen) => (seen.at(-1)?.consumerLag ?? 0n) >= 3n);
      expect(behind.at(-1)?.counters).toMatchObject({ accepted: 3n, pending: 3n, confirmed: 0n });
    } finally {
      await system.startWorker();
    }
    const caughtUp = await watchUntil(
      'WS-LAG',
      (seen) => seen.at(-1)?.consumerLag === 0n && seen.at(-1)?.counters?.confirmed === 3n,
    );
    expect(caughtUp.at(-1)).toMatchObject({ unitsLeft: 7n, outboxDepth: 0n });
  });

  test('the waiting room: the people in the queue and the wait at the sale’s rate', async () => {
    // One admission a second: the opener takes the burst, the next buyers are queued.
    await system.createSale('WS-QUEUE', { admissionRate: 1, admissionBurst: 1 });
    await system.place('WS-QUEUE', 'queue-opener');
    const numbers: bigint[] = [];
    for (let i = 0; i < 5; i++) {
      const refusal = await system.place('WS-QUEUE', `queue-buyer-${i}`).then(
        () => expect.fail('admitted over the rate'),
        (error: unknown) => ConnectError.from(error),
      );
      const [ticket] = refusal.findDetails(WaitingRoomTicketSchema);
      if (ticket === undefined) throw new Error(`no ticket: ${refusal.message}`);
      numbers.push(ticket.number);
    }
    expect(numbers).toEqual([1n, 2n, 3n, 4n, 5n]);
    // The queue calls one number a second from the first refusal on: some may be called already.
    const [first] = await watchUntil('WS-QUEUE', () => true);
    const waiting = Number(first?.queueLength ?? 0);
    expect(waiting).toBeGreaterThanOrEqual(1);
    expect(waiting).toBeLessThanOrEqual(5);
    expect(waitMs(first)).toBe(waiting * 1000);
    // Called one by one at the sale's rate, until nobody waits.
    const seen = await watchUntil('WS-QUEUE', (s) => s.at(-1)?.queueLength === 0n);
    const lengths = seen.map((s) => Number(s.queueLength));
    expect(lengths.every((n, i) => i === 0 || n <= (lengths[i - 1] ?? 0))).toBe(true);
    expect(waitMs(seen.at(-1))).toBe(0);
  });

  test('one read per interval, however many consoles watch the sale', async () => {
    await system.createSale('WS-MANY');
    const before = await reads();
    const watchers = 6;
    const controller = new AbortController();
    const received = Array.from({ length: watchers }, () => [] as number[]);
    const watches = received.map(async (times) => {
      try {
        for await (const { stats } of system.admin.watchSaleStats(
          { sku: 'WS-MANY' },
          { ...adminAuth, signal: controller.signal },
        )) {
          times.push(stats?.readAt === undefined ? 0 : timestampMs(stats.readAt));
        }
      } catch (error) {
        if (ConnectError.from(error).code !== Code.Canceled) throw error;
      }
    });
    await eventually(
      async () => received.every((times) => times.length >= 8),
      60_000,
      'eight snapshots at every watcher',
    );
    controller.abort();
    await Promise.all(watches);
    // Reads the gate began while the cancellations were on their way reached nobody: a couple
    // at most. Six polls would have made six times as many reads as any watcher received.
    const distinct = new Set(received.flat()).size;
    const counted = (await reads()) - before;
    expect(counted).toBeGreaterThanOrEqual(distinct);
    expect(counted).toBeLessThanOrEqual(distinct + 2);
    // Every watcher received (nearly) every read: the reads were shared, not one poll each.
    const most = Math.max(...received.map((times) => times.length));
    expect(distinct).toBeLessThanOrEqual(most + 1);
  });
});
