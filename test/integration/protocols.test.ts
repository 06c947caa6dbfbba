/** One port serves every protocol: Connect (JSON and binary, HTTP/1.1 and h2c), gRPC, gRPC-Web. */
import { createClient, type Transport } from '@connectrpc/connect';
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from '@connectrpc/connect-node';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { OrderStatus } from '../../gen/fluxgate/v1/order_pb.js';
import { OrderGateService } from '../../gen/fluxgate/v1/order_gate_pb.js';
import { startGate, type RunningGate } from '../../src/main-gate.js';
import { loadTestSale, testSale } from '../support/sales.js';
import { isolatedConfig, redisFor } from '../support/stack.js';
import { reasonOf } from '../support/wire.js';

const config = isolatedConfig();
const { redis, keys } = redisFor(config);
let gate: RunningGate;

beforeAll(async () => {
  gate = await startGate(config);
});

afterAll(async () => {
  await gate.close();
  redis.disconnect();
});

describe('protocols: one port serves them all', () => {
  const transports: [string, (url: string) => Transport][] = [
    [
      'Connect JSON over HTTP/1.1',
      (url) => createConnectTransport({ baseUrl: url, httpVersion: '1.1' }),
    ],
    [
      'Connect binary over HTTP/1.1',
      (url) => createConnectTransport({ baseUrl: url, httpVersion: '1.1', useBinaryFormat: true }),
    ],
    ['Connect JSON over h2c', (url) => createConnectTransport({ baseUrl: url, httpVersion: '2' })],
    ['gRPC over h2c', (url) => createGrpcTransport({ baseUrl: url })],
    [
      'gRPC-Web over HTTP/1.1',
      (url) => createGrpcWebTransport({ baseUrl: url, httpVersion: '1.1' }),
    ],
  ];

  beforeAll(async () => {
    await loadTestSale(redis, keys, testSale('PROTO-1', { totalStock: 100 }));
  });

  test.each(transports)(
    '%s: PlaceOrder is accepted, and a refusal keeps its details',
    async (_, transport) => {
      const client = createClient(OrderGateService, transport(gate.url));
      const key = randomUUID();
      const placed = await client.placeOrder({
        sku: 'PROTO-1',
        quantity: 1,
        customerId: 'proto',
        idempotencyKey: key,
      });
      expect(placed.status).toBe(OrderStatus.PENDING);
      const reused = await client
        .placeOrder({ sku: 'PROTO-1', quantity: 2, customerId: 'proto', idempotencyKey: key })
        .catch((e: unknown) => e);
      expect(reasonOf(reused)).toBe('IDEMPOTENCY_KEY_REUSED');
    },
  );
});
