/**
 * The worker is SIGKILLed in the middle of a stream and restarted: every order is persisted
 * exactly once and the stock moved by exactly the confirmed quantities.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createOrderStream, type OrderStream } from '../support/order-stream.js';
import { exited, spawnWorker } from '../support/processes.js';
import { eventually, isolatedConfig } from '../support/stack.js';

const config = isolatedConfig({ logLevel: 'warn' });
let stream: OrderStream;

beforeAll(async () => {
  stream = await createOrderStream(config, 'CRASH-1', 6000, (i) => (i % 3) + 1);
});

afterAll(async () => {
  await stream.close();
});

test('SIGKILL mid-stream, restart: every order persisted exactly once', async () => {
  const first = spawnWorker(config);
  await stream.produce(0, 3000);
  await eventually(async () => (await stream.recorded()) >= 500, 60_000, 'the first orders');
  first.kill('SIGKILL');
  expect(await exited(first)).toBe('SIGKILL');
  expect(await stream.recorded()).toBeLessThan(6000);

  await stream.produce(3000, 6000);
  const second = spawnWorker(config);
  try {
    await eventually(async () => (await stream.recorded()) === 6000, 120_000, 'all 6,000 orders');
    await new Promise((resolve) => setTimeout(resolve, 1000)); // room for a wrong extra write
  } finally {
    second.kill('SIGTERM');
    expect(await exited(second)).toBe(0);
  }
  const [row] = await stream.orm.em
    .getConnection()
    .execute<{ n: string; ids: string; qty: string; stock: number }[]>(
      `select count(*) as n, count(distinct order_id) as ids,
            sum(quantity) filter (where status = 'CONFIRMED') as qty,
            (select stock from product where sku = 'CRASH-1') as stock
       from orders`,
    );
  const total = stream.orders.reduce((s, o) => s + o.quantity, 0);
  expect(row).toEqual({ n: '6000', ids: '6000', qty: String(total), stock: 1_000_000 - total });
});
