/**
 * The typed Node client and the CLI on top of it, against the live gate: retries honour the
 * gate's retry delay under one idempotency key within the caller's deadline, final refusals are
 * never retried, and the CLI prints one readable line per answer with a meaningful exit code.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { OrderStatus } from '../../gen/fluxgate/v1/order_pb.js';
import { describeFailure, type FailureView } from '../../src/client/retry.js';
import { run } from '../support/processes.js';
import { startSystem, type System } from '../support/system.js';

let system: System;

beforeAll(async () => {
  system = await startSystem();
});
afterAll(() => system.close());

describe('typed client', () => {
  test('a rate-limited order is retried after the delay the gate names, under one key', async () => {
    await system.createSale('RETRY-1', { totalStock: 10, admissionRate: 1, admissionBurst: 1 });
    // The first order takes the sale's only token; the second must wait for the next one.
    await system.client.placeOrder({ sku: 'RETRY-1', quantity: 1, customerId: 'r1' });
    const retries: { failure: FailureView; waitMs: number }[] = [];
    const placed = await system.client.placeOrder(
      { sku: 'RETRY-1', quantity: 1, customerId: 'r2' },
      { onRetry: (_attempt, failure, waitMs) => retries.push({ failure, waitMs }) },
    );
    expect(placed.response.status).toBe(OrderStatus.PENDING);
    expect(placed.attempts).toBeGreaterThanOrEqual(2);
    expect(retries).toHaveLength(placed.attempts - 1);
    for (const { failure, waitMs } of retries) {
      expect(failure.reason).toBe('RATE_LIMITED');
      expect(failure.retryAfterMs).toBeGreaterThan(0);
      expect(waitMs).toBe(failure.retryAfterMs);
    }

    // The retries reused one key: placing again with it replays the same order.
    const replay = await system.client.placeOrder({
      sku: 'RETRY-1',
      quantity: 1,
      customerId: 'r2',
      idempotencyKey: placed.idempotencyKey,
    });
    expect(replay.response.orderId).toBe(placed.response.orderId);
  });

  test('a wait that would pass the caller’s deadline is not begun: the refusal comes at once', async () => {
    await system.createSale('RETRY-2', { totalStock: 10, admissionRate: 1, admissionBurst: 1 });
    await system.client.placeOrder({ sku: 'RETRY-2', quantity: 1, customerId: 'd1' });
    let retried = 0;
    const error = await system.client
      .placeOrder(
        { sku: 'RETRY-2', quantity: 1, customerId: 'd2' },
        {
          deadlineMs: 500,
          onRetry: () => {
            retried++;
          },
        },
      )
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    // The gate asks for about a second (the sale's next token): more than the 500 ms left.
    const failure = describeFailure(error);
    expect(failure).toMatchObject({ reason: 'RATE_LIMITED', retryable: true });
    expect(failure.retryAfterMs).toBeGreaterThan(500);
    expect(retried).toBe(0);
  });

  test('final refusals (sold out, invalid) fail at once, with their reason', async () => {
    await system.createSale('FINAL-1', { totalStock: 1 });
    await system.client.placeOrder({ sku: 'FINAL-1', quantity: 1, customerId: 'f1' });
    for (const [input, reason] of [
      [{ sku: 'FINAL-1', quantity: 1, customerId: 'f2' }, 'SOLD_OUT'],
      [{ sku: 'FINAL-1', quantity: 0, customerId: 'f2' }, 'INVALID_ARGUMENT'],
    ] as const) {
      let retried = 0;
      const error = await system.client
        .placeOrder(input, {
          onRetry: () => {
            retried++;
          },
        })
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(describeFailure(error)).toMatchObject({ reason, retryable: false });
      expect(retried).toBe(0);
    }
  });
});

describe('flux-gate CLI', () => {
  const cli = (...args: string[]) =>
    run('node_modules/.bin/node', ['dist/src/cli/main.js', '--url', system.gate.url, ...args], {
      env: { ...process.env, FLUXGATE_ADMIN_TOKEN: system.config.adminToken },
    });

  test('creates a sale, orders, shows the order and the sale, and refuses clearly', async () => {
    const created = await cli(
      'sale',
      'upsert',
      '--sku',
      'CLI-1',
      '--name',
      'CLI sale',
      '--stock',
      '2',
      '--limit',
      '2',
    );
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toMatch(/^created {2}CLI-1 {2}"CLI sale" {2}stock=2 limit=2\/customer/);

    const ordered = await cli('order', '--sku', 'CLI-1', '--qty', '2', '--customer', 'cli-buyer');
    expect(ordered.code, ordered.stderr).toBe(0);
    const orderId = /^order (\S+) {2}PENDING {2}\(idempotency key \S+, 1 attempt\)$/m.exec(
      ordered.stdout,
    )?.[1];
    expect(orderId, ordered.stdout).toBeDefined();

    const shown = await cli('get', orderId ?? '');
    expect(shown.stdout).toMatch(
      new RegExp(
        `^order ${orderId ?? ''} {2}(PENDING|CONFIRMED) {2}sku=CLI-1 qty=2 customer=cli-buyer$`,
        'm',
      ),
    );

    const soldOut = await cli('order', '--sku', 'CLI-1', '--qty', '1', '--customer', 'late');
    expect(soldOut.code).toBe(1);
    expect(soldOut.stderr).toMatch(/^refused: SOLD_OUT: /);

    const usage = await cli('order', '--sku', 'CLI-1');
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('--qty is required');

    const noToken = await run(
      'node_modules/.bin/node',
      ['dist/src/cli/main.js', '--url', system.gate.url, 'sale', 'list'],
      {
        env: { ...process.env, FLUXGATE_ADMIN_TOKEN: '' },
      },
    );
    expect(noToken.code).toBe(1);
    expect(noToken.stderr).toMatch(/^refused: UNAUTHENTICATED/);
  });
});
