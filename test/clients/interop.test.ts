/**
 * Clients generated in other languages against the live gate over gRPC: the Go example
 * (connect-go, h2c) and the Python example (grpcio) place an order and read it back, and retry a
 * rate-limited order after the delay the gate names, under one idempotency key.
 */
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { run, type Ran } from '../support/processes.js';
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

/** One example program: places `quantity` units of `saleSku` for `customerId`, reads it back. */
type Program = (saleSku: string, quantity: number, customerId: string) => Promise<Ran>;

const programs: [string, Program][] = [
  [
    'Go (connect-go over gRPC/h2c)',
    (saleSku, quantity, customerId) =>
      run(goBinary, [
        '-addr',
        system.gate.url,
        '-sku',
        saleSku,
        '-qty',
        String(quantity),
        '-customer',
        customerId,
      ]),
  ],
  [
    'Python (grpcio)',
    (saleSku, quantity, customerId) =>
      run(python, [
        'clients/python/place_order.py',
        '--addr',
        new URL(system.gate.url).host,
        '--sku',
        saleSku,
        '--qty',
        String(quantity),
        '--customer',
        customerId,
      ]),
  ],
];

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
    const ran = await program(sku, 2, `${tag}-buyer`);
    expect(ran.code, ran.stderr).toBe(0);
    const { attempts } = await expectPlacedAndRead(ran.stdout, sku, `${tag}-buyer`, 2);
    expect(attempts).toBe(1);
  });

  test('retries a rate-limited order after the gate’s delay, under one key', async () => {
    const limited = `INTEROP-RL-${tag.toUpperCase()}`;
    await system.createSale(limited, { totalStock: 10, admissionRate: 1, admissionBurst: 1 });
    // This order takes the sale's only token: the program's first attempt must wait.
    await system.client.placeOrder({ sku: limited, quantity: 1, customerId: 'first' });
    const ran = await program(limited, 1, `${tag}-waiter`);
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
});
