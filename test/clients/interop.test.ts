/**
 * Clients generated in other languages against the live gate over gRPC: the Go example
 * (connect-go, h2c) and the Python example (grpcio) place an order and read it back, retry a
 * rate-limited order after the delay the gate names, under one idempotency key, and with their
 * queue flag wait in the sale's queue (WatchTicket) and buy with the called ticket.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, onTestFinished, test } from 'vitest';
import { exited, run, spawnProgram } from '../support/processes.js';
import { buyInTurn, ticketOf } from '../support/queue.js';
import { startSystem, type System } from '../support/system.js';

let system: System;
const sku = 'INTEROP-1';
const goBinary = '.tools/bin/place-order-go';
let python: string;

beforeAll(async () => {
  system = await startSystem();
  await system.createSale(sku, { totalStock: 10 });
  execFileSync('go', ['build', '-o', `../../${goBinary}`, './cmd/place-order'], {
    cwd: 'clients/go',
    stdio: 'inherit',
  });
  python = execFileSync('bash', ['scripts/python-env.sh'], { encoding: 'utf8' }).trim();
});
afterAll(() => system.close());

/**
 * One example program's command line: it places `quantity` units of `saleSku` for `customerId`
 * and reads the order back; with `queue`, refused for the sale's rate, it waits in the queue.
 */
type Program = (
  saleSku: string,
  quantity: number,
  customerId: string,
  queue?: boolean,
) => [file: string, args: string[]];

const programs: [string, Program][] = [
  [
    'Go (connect-go over gRPC/h2c)',
    (saleSku, quantity, customerId, queue = false) => [
      goBinary,
      [
        '-addr',
        system.gate.url,
        '-sku',
        saleSku,
        '-qty',
        String(quantity),
        '-customer',
        customerId,
        ...(queue ? ['-queue'] : []),
      ],
    ],
  ],
  [
    'Python (grpcio)',
    (saleSku, quantity, customerId, queue = false) => [
      python,
      [
        'clients/python/place_order.py',
        '--addr',
        new URL(system.gate.url).host,
        '--sku',
        saleSku,
        '--qty',
        String(quantity),
        '--customer',
        customerId,
        ...(queue ? ['--queue'] : []),
      ],
    ],
  ],
];

/**
 * On a new sale of admission rate 1 and burst 1: one order takes the burst, then `ahead`
 * customers are refused for the rate and hold the first places in the queue (one a second is
 * called), so the next buyer is surely refused and waits. Returns their tickets, in order.
 */
async function queueAhead(saleSku: string, ahead: number): Promise<string[]> {
  await system.client.placeOrder({ sku: saleSku, quantity: 1, customerId: 'first' });
  const tickets: string[] = [];
  for (let i = 1; i <= ahead; i++) {
    const customerId = `ahead-${String(i)}`;
    const ticket = await system.place(saleSku, customerId).then(() => undefined, ticketOf);
    expect(ticket, `${customerId} got no ticket`).toBeDefined();
    tickets.push(ticket ?? '');
  }
  return tickets;
}

/** The program printed that it queued with ticket N after its first attempt. Returns N. */
function expectQueued(output: string): string {
  const queued =
    /^queued ticket=(\d+) after attempt 1: .*RATE_LIMITED.*; waiting in the queue$/m.exec(output);
  expect(queued, output).not.toBeNull();
  return queued?.[1] ?? '';
}

/**
 * The program printed `placed order_id=X status=PENDING idempotency_key=K attempts=N`, then read
 * X back; the gate knows X as this customer's order. Returns X, K and N.
 */
async function expectPlacedAndRead(
  stdout: string,
  saleSku: string,
  customerId: string,
  quantity: number,
): Promise<{ orderId: string; idempotencyKey: string; attempts: number }> {
  const placed =
    /placed order_id=(\S+) status=ORDER_STATUS_PENDING idempotency_key=(\S+) attempts=(\d+)/.exec(
      stdout,
    );
  expect(placed, stdout).not.toBeNull();
  const [, orderId = '', idempotencyKey = '', attempts = ''] = placed ?? [];
  expect(stdout).toMatch(
    new RegExp(
      `read\\s+order_id=${orderId} sku=${saleSku} quantity=${String(quantity)} status=ORDER_STATUS_(PENDING|CONFIRMED)`,
    ),
  );
  const { order } = await system.client.orders.getOrder({ orderId });
  expect(order).toMatchObject({ sku: saleSku, quantity, customerId });
  return { orderId, idempotencyKey, attempts: Number(attempts) };
}

describe.each(programs)('%s', (name, program) => {
  const tag = name.split(' ')[0]?.toLowerCase() ?? '';

  test('places an order and reads it back', async () => {
    const ran = await run(...program(sku, 2, `${tag}-buyer`));
    expect(ran.code, ran.stderr).toBe(0);
    const { attempts } = await expectPlacedAndRead(ran.stdout, sku, `${tag}-buyer`, 2);
    expect(attempts).toBe(1);
  });

  test('retries a rate-limited order after the gate’s delay, under one key', async () => {
    const limited = `INTEROP-RL-${tag.toUpperCase()}`;
    await system.createSale(limited, { totalStock: 10, admissionRate: 1, admissionBurst: 1 });
    // This order takes the sale's only token: the program's first attempt must wait.
    await system.client.placeOrder({ sku: limited, quantity: 1, customerId: 'first' });
    const ran = await run(...program(limited, 1, `${tag}-waiter`));
    expect(ran.code, ran.stderr).toBe(0);
    expect(ran.stderr).toMatch(/^attempt 1: .*RATE_LIMITED.*; retrying in /m);
    const { orderId, idempotencyKey, attempts } = await expectPlacedAndRead(
      ran.stdout,
      limited,
      `${tag}-waiter`,
      1,
    );
    expect(attempts).toBeGreaterThanOrEqual(2);
    // The key the program printed is the one its successful attempt sent: a repeat replays it.
    const replay = await system.client.placeOrder({
      sku: limited,
      quantity: 1,
      customerId: `${tag}-waiter`,
      idempotencyKey,
    });
    expect(replay.response.orderId).toBe(orderId);
  });

  test('waits in the queue for its ticket’s call, then buys with the ticket', async () => {
    const queued = `INTEROP-Q-${tag.toUpperCase()}`;
    await system.createSale(queued, { totalStock: 10, admissionRate: 1, admissionBurst: 1 });
    await queueAhead(queued, 3);
    const ran = await run(...program(queued, 1, `${tag}-queued`, true));
    expect(ran.code, ran.stderr).toBe(0);
    const number = expectQueued(ran.stdout);
    // Where the ticket stands, from the stream: at least once while it waits, then its call.
    expect(ran.stdout).toMatch(
      new RegExp(
        `^waiting ticket=${number} position=\\d+ people_ahead=\\d+ now_serving=\\d+ estimated_wait=\\d+\\.\\ds$`,
        'm',
      ),
    );
    expect(ran.stdout).toMatch(
      new RegExp(`^called ticket=${number} until=\\S+: ordering with the ticket$`, 'm'),
    );
    // The ticket admitted the second attempt; no retry was made blind.
    expect(ran.stderr).not.toMatch(/retrying in/);
    const { attempts } = await expectPlacedAndRead(ran.stdout, queued, `${tag}-queued`, 1);
    expect(attempts).toBe(2);
  });

  test('leaves the queue with an error when the sale sells out while it waits', async () => {
    const last = `INTEROP-QSO-${tag.toUpperCase()}`;
    // Two units: the order that takes the burst buys one, the first ticket in the queue the other.
    await system.createSale(last, { totalStock: 2, admissionRate: 1, admissionBurst: 1 });
    const [firstInQueue] = await queueAhead(last, 3);
    const late = spawnProgram(...program(last, 1, `${tag}-late`, true));
    onTestFinished(() => void late.child.kill());
    await late.waitFor(/^waiting ticket=\d+/m);
    // The first ticket is called a second after it was issued, the program's at least three
    // seconds after that: the last unit goes while the program waits.
    const bought = await buyInTurn(
      system.orders,
      {
        sku: last,
        quantity: 1,
        customerId: 'ahead-1',
        idempotencyKey: randomUUID(),
        queueTicket: firstInQueue ?? '',
      },
      Date.now() + 10_000,
    );
    expect(bought?.orderId).toBeDefined();
    expect(await exited(late.child)).toBe(1);
    const number = expectQueued(late.output());
    expect(late.output()).toMatch(
      new RegExp(`^error: ticket ${number}: the sale sold out while waiting in the queue$`, 'm'),
    );
    expect(late.output()).not.toMatch(/^(called|placed) /m);
  });
});
