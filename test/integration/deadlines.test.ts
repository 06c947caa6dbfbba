/**
 * Deadlines are clamped, not refused: a call asking for more than FLUXGATE_MAX_DEADLINE_MS runs
 * with the maximum (as Envoy's max_grpc_timeout does), on every protocol; a deadline that has
 * already passed answers deadline_exceeded before anything is read or touched.
 */
import { create, toBinary } from '@bufbuild/protobuf';
import { Code, createClient, type Transport } from '@connectrpc/connect';
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from '@connectrpc/connect-node';
import type { FastifyInstance } from 'fastify';
import { randomUUID } from 'node:crypto';
import http2 from 'node:http2';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { OrderGateService, PlaceOrderRequestSchema } from '../../gen/fluxgate/v1/order_gate_pb.js';
import { ServerReflection } from '../../gen/grpc/reflection/v1/reflection_pb.js';
import { buildServer } from '../../src/gate/build-server.js';
import { startGate, type RunningGate } from '../../src/main-gate.js';
import { loadTestSale, testSale } from '../support/sales.js';
import { isolatedConfig, redisFor, redisSnapshot } from '../support/stack.js';

// The outbox relay takes a lock key in Redis on its own timer: kept out of the snapshots.
const config = isolatedConfig({ outboxRelayIntervalMs: 600_000 });
const maxMs = config.maxDeadlineMs;
/** Longer than any maximum the configuration allows for this test (30 s by default). */
const longMs = 2 * maxMs;

/** Every protocol, over the HTTP versions the gate serves them on. */
const transports: [string, (baseUrl: string) => Transport][] = [
  ['Connect over HTTP/1.1', (baseUrl) => createConnectTransport({ baseUrl, httpVersion: '1.1' })],
  ['Connect over HTTP/2', (baseUrl) => createConnectTransport({ baseUrl, httpVersion: '2' })],
  ['gRPC', (baseUrl) => createGrpcTransport({ baseUrl })],
  ['gRPC-Web', (baseUrl) => createGrpcWebTransport({ baseUrl, httpVersion: '1.1' })],
];

/** A PlaceOrder message on the wire, valid for the sale `sku`. */
const orderBytes = (sku: string, idempotencyKey: string) =>
  toBinary(
    PlaceOrderRequestSchema,
    create(PlaceOrderRequestSchema, { sku, quantity: 1, customerId: 'c-1', idempotencyKey }),
  );

/** gRPC over cleartext HTTP/2 with a hand-set grpc-timeout; resolves to the grpc-status. */
async function grpcWithTimeout(url: string, timeout: string, message: Uint8Array) {
  const session = http2.connect(url);
  try {
    return await new Promise<string | undefined>((resolve, reject) => {
      const stream = session.request({
        ':method': 'POST',
        ':path': '/fluxgate.v1.OrderGateService/PlaceOrder',
        'content-type': 'application/grpc+proto',
        'grpc-timeout': timeout,
        te: 'trailers',
      });
      let status: string | undefined;
      const read = (h: http2.IncomingHttpHeaders) => {
        if (h['grpc-status'] !== undefined) status = String(h['grpc-status']);
      };
      stream.on('response', read);
      stream.on('trailers', read);
      stream.on('data', () => undefined);
      stream.on('error', reject);
      stream.on('close', () => resolve(status));
      const head = Buffer.alloc(5);
      head.writeUInt32BE(message.length, 1);
      stream.end(Buffer.concat([head, message]));
    });
  } finally {
    session.close();
  }
}

/** A Connect unary POST with a hand-set connect-timeout-ms; resolves to status and code. */
async function connectWithTimeout(url: string, timeout: string, message: Uint8Array) {
  const res = await fetch(`${url}/fluxgate.v1.OrderGateService/PlaceOrder`, {
    method: 'POST',
    headers: {
      'content-type': 'application/proto',
      'connect-protocol-version': '1',
      'connect-timeout-ms': timeout,
    },
    body: message,
  });
  return { status: res.status, code: ((await res.json()) as { code?: string }).code };
}

describe('the handler runs with the clamped deadline', () => {
  let app: FastifyInstance;
  let url: string;
  let handled = 0;

  beforeAll(async () => {
    app = await buildServer({
      config,
      logger: pino({ level: 'silent' }),
      routes: (router) => {
        // Reports the deadline it was given, in the order id.
        router.service(OrderGateService, {
          placeOrder(_, context) {
            handled++;
            return { orderId: String(context.timeoutMs()) };
          },
        });
      },
    });
    url = await app.listen({ host: '127.0.0.1', port: 0 });
  });
  afterAll(() => app.close());

  test.each(transports)('%s: a deadline above the maximum runs with the maximum', async (_, t) => {
    const client = createClient(OrderGateService, t(url));
    const { orderId } = await client.placeOrder({}, { timeoutMs: longMs });
    const seenMs = Number(orderId);
    expect(seenMs).toBeGreaterThan(0);
    expect(seenMs).toBeLessThanOrEqual(maxMs);
  });

  test.each(transports)('%s: a deadline within the maximum is kept', async (_, t) => {
    const client = createClient(OrderGateService, t(url));
    const { orderId } = await client.placeOrder({}, { timeoutMs: maxMs / 2 });
    expect(Number(orderId)).toBeGreaterThan(0);
    expect(Number(orderId)).toBeLessThanOrEqual(maxMs / 2);
  });

  test.each([
    ['grpc-timeout in hours', '99999999H'],
    ['grpc-timeout just above the maximum', `${maxMs + 1}m`],
  ])('gRPC: %s runs with the maximum', async (_, timeout) => {
    const before = handled;
    expect(await grpcWithTimeout(url, timeout, new Uint8Array())).toBe('0');
    expect(handled).toBe(before + 1);
  });

  test.each([
    ['gRPC, grpc-timeout 0n', () => grpcWithTimeout(url, '0n', new Uint8Array())],
    ['gRPC, grpc-timeout 0S', () => grpcWithTimeout(url, '0S', new Uint8Array())],
    ['gRPC, grpc-timeout 1n', () => grpcWithTimeout(url, '1n', new Uint8Array())],
  ])('%s answers deadline_exceeded without calling the handler', async (_, call) => {
    const before = handled;
    expect(await call()).toBe(String(Code.DeadlineExceeded));
    expect(handled).toBe(before);
  });

  test('Connect, connect-timeout-ms 0 answers deadline_exceeded without calling the handler', async () => {
    const before = handled;
    expect(await connectWithTimeout(url, '0', new Uint8Array())).toEqual({
      status: 504,
      code: 'deadline_exceeded',
    });
    expect(handled).toBe(before);
  });
});

describe('through the real gate', () => {
  const { redis, keys } = redisFor(config);
  let gate: RunningGate;

  beforeAll(async () => {
    gate = await startGate(config);
    await loadTestSale(redis, keys, testSale('DEADLINE-1'));
  });
  afterAll(async () => {
    await gate.close();
    redis.disconnect();
  });

  test.each(transports)(
    '%s: PlaceOrder with a deadline above the maximum succeeds',
    async (_, t) => {
      const client = createClient(OrderGateService, t(gate.url));
      const placed = await client.placeOrder(
        { sku: 'DEADLINE-1', quantity: 1, customerId: 'c-long', idempotencyKey: randomUUID() },
        { timeoutMs: longMs },
      );
      expect(placed.orderId).not.toBe('');
    },
  );

  test('gRPC: reflection with a deadline above the maximum answers', async () => {
    const client = createClient(ServerReflection, createGrpcTransport({ baseUrl: gate.url }));
    const answers = client.serverReflectionInfo(
      (async function* () {
        yield { messageRequest: { case: 'listServices', value: '' } } as const;
      })(),
      { timeoutMs: longMs },
    );
    for await (const answer of answers) {
      expect(answer.messageResponse.case).toBe('listServicesResponse');
      break;
    }
  });

  test('a zero deadline answers deadline_exceeded and touches nothing', async () => {
    const before = await redisSnapshot(redis, config.redisKeyPrefix, () => gate.placer.settled());
    expect(await grpcWithTimeout(gate.url, '0n', orderBytes('DEADLINE-1', randomUUID()))).toBe(
      String(Code.DeadlineExceeded),
    );
    expect(await connectWithTimeout(gate.url, '0', orderBytes('DEADLINE-1', randomUUID()))).toEqual(
      { status: 504, code: 'deadline_exceeded' },
    );
    expect(await redisSnapshot(redis, config.redisKeyPrefix, () => gate.placer.settled())).toEqual(
      before,
    );
  });
});
