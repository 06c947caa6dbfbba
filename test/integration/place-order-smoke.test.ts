import { createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { OrderStatus } from '../../gen/fluxgate/v1/order_pb.js';
import { OrderGateService } from '../../gen/fluxgate/v1/order_gate_pb.js';
import { startGate, type RunningGate } from '../../src/main-gate.js';
import { isolatedConfig, loadOpenSale, openSale, redisFor } from './support.js';

const config = isolatedConfig();
const { redis, keys } = redisFor(config);
let gate: RunningGate;

beforeAll(async () => {
  gate = await startGate(config);
  await loadOpenSale(redis, keys, openSale('SMOKE-1', { totalStock: 5 }));
});
afterAll(async () => {
  await gate.close();
  redis.disconnect();
});

test('an order is accepted PENDING and takes its units from the counter', async () => {
  const client = createClient(
    OrderGateService,
    createConnectTransport({ baseUrl: gate.url, httpVersion: '1.1' }),
  );
  const res = await client.placeOrder({
    sku: 'SMOKE-1',
    quantity: 2,
    customerId: 'c1',
    idempotencyKey: 'k1',
  });
  expect(res.status).toBe(OrderStatus.PENDING);
  expect(res.orderId).toMatch(/^[0-9a-f-]{36}$/);
  expect(await redis.get(keys.stock('SMOKE-1'))).toBe('3');
  expect(await redis.xlen(keys.outbox('SMOKE-1'))).toBe(0);
});
