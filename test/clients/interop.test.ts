/**
 * Clients generated in other languages against the live gate over gRPC: the Go example
 * (connect-go, h2c) and the Python example (grpcio) place an order and read it back.
 */
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { run } from '../support/processes.js';
import { startSystem, type System } from '../support/system.js';

let system: System;
const sku = 'INTEROP-1';

beforeAll(async () => {
  system = await startSystem();
  await system.createSale(sku, { totalStock: 10 });
});
afterAll(() => system.close());

/**
 * The program printed `placed order_id=X status=PENDING`, then read X back; the gate knows X
 * as this customer's order.
 */
async function expectPlacedAndRead(stdout: string, customerId: string, quantity: number) {
  const orderId = /placed order_id=(\S+) status=ORDER_STATUS_PENDING/.exec(stdout)?.[1];
  expect(orderId, stdout).toBeDefined();
  expect(stdout).toMatch(
    new RegExp(
      `read\\s+order_id=${orderId ?? ''} sku=${sku} quantity=${String(quantity)} status=ORDER_STATUS_(PENDING|CONFIRMED)`,
    ),
  );
  const { order } = await system.client.orders.getOrder({ orderId: orderId ?? '' });
  expect(order).toMatchObject({ sku, quantity, customerId });
}

describe('generated clients in other languages', () => {
  test('Go (connect-go over gRPC/h2c) places an order and reads it back', async () => {
    const binary = '.tools/bin/place-order-go';
    execFileSync('go', ['build', '-o', `../../${binary}`, './cmd/place-order'], {
      cwd: 'clients/go',
      stdio: 'inherit',
    });
    const ran = await run(binary, [
      '-addr',
      system.gate.url,
      '-sku',
      sku,
      '-qty',
      '2',
      '-customer',
      'go-buyer',
    ]);
    expect(ran.code, ran.stderr).toBe(0);
    await expectPlacedAndRead(ran.stdout, 'go-buyer', 2);
  });

  test('Python (grpcio) places an order and reads it back', async () => {
    const python = execFileSync('bash', ['scripts/python-env.sh'], { encoding: 'utf8' }).trim();
    const ran = await run(python, [
      'clients/python/place_order.py',
      '--addr',
      new URL(system.gate.url).host,
      '--sku',
      sku,
      '--qty',
      '3',
      '--customer',
      'python-buyer',
    ]);
    expect(ran.code, ran.stderr).toBe(0);
    await expectPlacedAndRead(ran.stdout, 'python-buyer', 3);
  });
});
