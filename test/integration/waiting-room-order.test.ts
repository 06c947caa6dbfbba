/**
 * The waiting room's fairness, through two gate processes (the compiled gate, as deployed):
 * 1,000 buyers arriving one after another in a known order, far faster than an admission rate
 * of 20 a second (so that the queue never drains while they arrive, even on a loaded machine), are numbered in arrival order within the stated bound (docs/waiting-room.md) and
 * admitted only once their number is called; a buyer retrying every few milliseconds gains
 * nothing by it.
 */
import { timestampMs } from '@bufbuild/protobuf/wkt';
import { ConnectError, createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { WaitingRoomTicketSchema } from '../../gen/fluxgate/v1/errors_pb.js';
import { OrderGateService } from '../../gen/fluxgate/v1/order_gate_pb.js';
import { runMigrations } from '../../src/main-migrate.js';
import { envFor, exited, freePort, spawnProcess, type Spawned } from '../support/processes.js';
import { buyInTurn } from '../support/queue.js';
import { loadTestSale, testSale } from '../support/sales.js';
import { dropTestData, isolatedConfig, redisFor } from '../support/stack.js';
import { reasonOf } from '../support/wire.js';

const config = isolatedConfig();
const { redis, keys } = redisFor(config);
const gates: { process: Spawned; url: string }[] = [];
const rate = 20;

beforeAll(async () => {
  await runMigrations(config);
  for (let i = 0; i < 2; i++) {
    const port = await freePort();
    const process = spawnProcess(
      'main-gate',
      envFor({ ...config, gatePort: port, logLevel: 'info' }),
    );
    await process.waitFor(/"msg":"gate listening"/);
    gates.push({ process, url: `http://127.0.0.1:${String(port)}` });
  }
});
afterAll(async () => {
  for (const { process } of gates) {
    process.child.kill('SIGTERM');
    await exited(process.child);
  }
  redis.disconnect();
  await dropTestData(config);
});

/** One buyer: when they arrived, at which gate, and the ticket they were given. */
interface Arrival {
  readonly customerId: string;
  readonly gate: number;
  readonly arrivedAt: number;
  readonly number: number;
  readonly token: string;
}

test('1,000 buyers through two gate processes are numbered in arrival order within the bound and admitted in ticket order; a fast retrier does not overtake', async () => {
  const sku = 'FAIR-1';
  await loadTestSale(
    redis,
    keys,
    testSale(sku, { totalStock: 5000, admissionRate: rate, admissionBurst: 1 }),
  );
  // gRPC over one HTTP/2 connection per gate: HTTP/1.1 keep-alive sockets, idle while buyers
  // wait, can be closed by the gate just as the client writes on them (EPIPE under load).
  const clients = gates.map((g) =>
    createClient(OrderGateService, createGrpcTransport({ baseUrl: g.url })),
  );
  const buyers = 1000;
  const arrivals: Arrival[] = [];
  const admittedAtOnce: { customerId: string; arrivedAt: number; acceptedAt: number }[] = [];
  let queueFormedAt: number | undefined;
  // One after another, alternating gates: the order of arrival is known.
  for (let i = 0; i < buyers; i++) {
    const customerId = `buyer-${String(i).padStart(4, '0')}`;
    const gate = i % 2;
    const arrivedAt = Date.now();
    try {
      const accepted = await clients[gate]!.placeOrder({
        sku,
        quantity: 1,
        customerId,
        idempotencyKey: customerId,
      });
      admittedAtOnce.push({ customerId, arrivedAt, acceptedAt: timestampMs(accepted.acceptedAt!) });
    } catch (error) {
      expect(reasonOf(error)).toBe('RATE_LIMITED');
      const ticket = (error as ConnectError).findDetails(WaitingRoomTicketSchema)[0]!;
      queueFormedAt ??= arrivedAt;
      arrivals.push({
        customerId,
        gate,
        arrivedAt,
        number: Number(ticket.number),
        token: ticket.token,
      });
    }
  }
  // Nobody without a ticket is admitted while tickets wait: a buyer admitted at once after the
  // queue formed came when it had drained (arrivals slower than the rate for a while, as on a
  // loaded machine), so every ticket handed out before them had been called by then. Each such
  // drain lets the queue form again with at most one call in hand (the burst).
  const lateAdmitted = admittedAtOnce.filter((a) => a.arrivedAt > queueFormedAt!);
  for (const late of lateAdmitted) {
    const before = arrivals.filter((a) => a.arrivedAt < late.arrivedAt);
    const lastCalled = Math.max(...before.map((a) => a.number));
    expect(
      queueFormedAt! + ((lastCalled - 2 - lateAdmitted.length) * 1000) / rate,
    ).toBeLessThanOrEqual(late.acceptedAt + 5);
  }
  expect(arrivals.length).toBeGreaterThan(buyers / 2);
  expect(new Set(arrivals.map((a) => a.number)).size).toBe(arrivals.length);

  // The bound: a buyer is overtaken (given a higher number than one who arrived after them)
  // only by buyers who arrived within the block age (250 ms) after them at the other gate,
  // and by at most (gates - 1) x (largest block - 1) = 63 of them.
  let worstOvertakers = 0;
  for (let i = 0; i < arrivals.length; i++) {
    let overtakers = 0;
    for (let j = i + 1; j < arrivals.length; j++) {
      if (arrivals[j]!.number < arrivals[i]!.number) {
        overtakers++;
        expect(arrivals[j]!.gate).not.toBe(arrivals[i]!.gate);
        expect(arrivals[j]!.arrivedAt - arrivals[i]!.arrivedAt).toBeLessThan(250);
      }
    }
    worstOvertakers = Math.max(worstOvertakers, overtakers);
  }
  expect(worstOvertakers).toBeLessThanOrEqual(63);

  // Everyone waits their turn as told; the last in line retries every 5 ms instead.
  const fastest = arrivals.reduce((a, b) => (b.number > a.number ? b : a));
  let fastRetries = 0;
  const numbersSeen = new Map<string, Set<bigint>>();
  const admitted = await Promise.all(
    arrivals.map(async (a) => {
      const accepted = await buyInTurn(
        clients[a.gate]!,
        {
          sku,
          quantity: 1,
          customerId: a.customerId,
          idempotencyKey: a.customerId,
          queueTicket: a.token,
        },
        Date.now() + 120_000,
        {
          maxSleepMs: a === fastest ? 5 : 1000,
          onRefusal: (error) => {
            if (a === fastest) fastRetries++;
            const number = error.findDetails(WaitingRoomTicketSchema)[0]?.number;
            if (number !== undefined)
              (
                numbersSeen.get(a.customerId) ??
                numbersSeen.set(a.customerId, new Set()).get(a.customerId)!
              ).add(number);
          },
        },
      );
      expect(accepted, a.customerId).toBeDefined();
      // When the answer was back: after the script admitted it. (acceptedAt is stamped before
      // the script runs, a few ms earlier under load.)
      return { ...a, acceptedAt: timestampMs(accepted!.acceptedAt!), answeredAt: Date.now() };
    }),
  );
  // Each buyer kept the one place they were given.
  for (const [customerId, numbers] of numbersSeen) expect(numbers.size, customerId).toBe(1);
  // Position n is called no earlier than (n - 1) calls at the sale's rate after the queue
  // formed (one more for a part-token carried into it, and one per time it formed again):
  // nobody is admitted before that, the fast retrier included, refused many times on the way.
  for (const a of admitted) {
    const earliestCallMs = queueFormedAt! + ((a.number - 2 - lateAdmitted.length) * 1000) / rate;
    expect(a.answeredAt, a.customerId).toBeGreaterThanOrEqual(earliestCallMs);
  }
  expect(fastRetries).toBeGreaterThan(20);
  const spanS = (Math.max(...admitted.map((a) => a.acceptedAt)) - queueFormedAt!) / 1000;
  console.log(
    `${admitted.length} buyers admitted in ${spanS.toFixed(2)} s (rate ${rate}/s), ${admittedAtOnce.length} at once; worst overtaking: ${worstOvertakers} buyers; fast retrier refused ${fastRetries} times`,
  );
}, 120_000);
