/**
 * PlaceOrder end to end against real Redis and Kafka, through real gate servers.
 */
import { Code, ConnectError, createClient, type Client, type Transport } from '@connectrpc/connect';
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from '@connectrpc/connect-node';
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { OrderStatus } from '../../gen/fluxgate/v1/order_pb.js';
import { OrderGateService } from '../../gen/fluxgate/v1/order_gate_pb.js';
import { ErrorInfoSchema } from '../../gen/google/rpc/error_details_pb.js';
import { decodeOrderAccepted } from '../../src/kafka/codec.js';
import { createTopics } from '../../src/kafka/topics.js';
import { startGate, type RunningGate } from '../../src/main-gate.js';
import { badInputs } from '../fixtures/bad-inputs.js';
import {
  isolatedConfig,
  loadOpenSale,
  openSale,
  readTopic,
  redisFor,
  redisSnapshot,
} from './support.js';

const config = isolatedConfig();
const { redis, keys } = redisFor(config);
const topics = createTopics(config.topicPrefix);
const gates: RunningGate[] = [];
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

const connectClient = (gate: RunningGate) =>
  createClient(
    OrderGateService,
    createConnectTransport({
      baseUrl: gate.url,
      httpVersion: '1.1',
      useBinaryFormat: true,
      nodeOptions: { agent },
    }),
  );

/** The refusal's ErrorInfo reason, or undefined when `error` is not a refusal. */
function reasonOf(error: unknown): string | undefined {
  return error instanceof ConnectError ? error.findDetails(ErrorInfoSchema)[0]?.reason : undefined;
}

beforeAll(async () => {
  gates.push(await startGate(config), await startGate(config));
});

afterAll(async () => {
  await Promise.all(gates.map((g) => g.close()));
  agent.destroy();
  redis.disconnect();
});

test('sell-out race: 2,000 concurrent orders through two gates never sell more than 100 units', async () => {
  await loadOpenSale(redis, keys, openSale('RACE-1', { totalStock: 100 }));
  const clients = gates.map(connectClient);
  const attempts = Array.from({ length: 2000 }, (_, i) => ({
    client: clients[i % clients.length]!,
    request: {
      sku: 'RACE-1',
      quantity: (i % 3) + 1,
      customerId: `buyer-${i}`,
      idempotencyKey: randomUUID(),
    },
  }));
  const results = await Promise.allSettled(attempts.map((a) => a.client.placeOrder(a.request)));

  const accepted = results.flatMap((r, i) =>
    r.status === 'fulfilled' ? [{ ...r.value, quantity: attempts[i]!.request.quantity }] : [],
  );
  const refusals = results.flatMap((r, i) =>
    r.status === 'rejected' ? [{ error: r.reason as ConnectError, attempt: attempts[i]! }] : [],
  );
  const soldUnits = accepted.reduce((sum, a) => sum + a.quantity, 0);

  expect(soldUnits).toBeLessThanOrEqual(100);
  expect(soldUnits).toBeGreaterThan(97); // it really sold out: fewer than 3 units can be left
  // Every refusal was true when given: SOLD_OUT, or fewer units left than that order asked for.
  expect(new Set(refusals.map((r) => reasonOf(r.error)))).toEqual(
    new Set(['SOLD_OUT', 'INSUFFICIENT_STOCK']),
  );
  for (const { error, attempt } of refusals.filter(
    (r) => reasonOf(r.error) === 'INSUFFICIENT_STOCK',
  )) {
    const unitsLeft = Number(error.findDetails(ErrorInfoSchema)[0]?.metadata.units_left);
    expect(unitsLeft).toBeGreaterThan(0);
    expect(unitsLeft).toBeLessThan(attempt.request.quantity);
  }
  expect(Number(await redis.get(keys.stock('RACE-1')))).toBe(100 - soldUnits);

  // Every acceptance has exactly one event on the order topic, and no other event exists.
  const records = await readTopic(config, topics.orders, (rs) => rs.length >= accepted.length);
  await new Promise((resolve) => setTimeout(resolve, 500));
  const events = records
    .map((r) => decodeOrderAccepted(r.value!))
    .filter((e) => e.sku === 'RACE-1');
  expect(events.map((e) => e.orderId).sort()).toEqual(accepted.map((a) => a.orderId).sort());
  expect(records.every((r) => r.key?.toString() === 'RACE-1')).toBe(true);
  expect(await redis.xlen(keys.outbox('RACE-1'))).toBe(0);
});

describe('idempotency', () => {
  const request = { sku: 'IDEM-1', quantity: 2, customerId: 'alice', idempotencyKey: 'idem-key-1' };
  let client: Client<typeof OrderGateService>;

  beforeAll(async () => {
    await loadOpenSale(redis, keys, openSale('IDEM-1', { totalStock: 50 }));
    client = connectClient(gates[0]!);
  });

  test('50 concurrent calls with one key make one reservation; each answer is that order or aborted', async () => {
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, (_, i) => connectClient(gates[i % 2]!).placeOrder(request)),
    );
    const orderIds = new Set(
      results.flatMap((r) => (r.status === 'fulfilled' ? [r.value.orderId] : [])),
    );
    const errors = results.flatMap((r) =>
      r.status === 'rejected' ? [r.reason as ConnectError] : [],
    );
    expect(orderIds.size).toBe(1);
    expect(
      errors.every((e) => e.code === Code.Aborted && reasonOf(e) === 'IDEMPOTENCY_KEY_IN_FLIGHT'),
    ).toBe(true);
    expect(await redis.get(keys.stock('IDEM-1'))).toBe('48');
  });

  test('a replay after completion returns the identical answer, marked idempotent-replayed', async () => {
    const headers: Headers[] = [];
    const first = await client.placeOrder(request, { onHeader: (h) => headers.push(h) });
    const again = await client.placeOrder(request, { onHeader: (h) => headers.push(h) });
    expect(again).toEqual(first);
    expect(headers.map((h) => h.get('idempotent-replayed'))).toEqual(['true', 'true']);
    expect(await redis.get(keys.stock('IDEM-1'))).toBe('48');
  });

  test('the same key with a different payload is IDEMPOTENCY_KEY_REUSED and changes nothing', async () => {
    const error = await client.placeOrder({ ...request, quantity: 3 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).code).toBe(Code.InvalidArgument);
    expect(reasonOf(error)).toBe('IDEMPOTENCY_KEY_REUSED');
    expect(await redis.get(keys.stock('IDEM-1'))).toBe('48');
  });

  test('the key may come in the idempotency-key header instead of the field', async () => {
    const viaHeader = { ...request, idempotencyKey: '' };
    const first = await client.placeOrder(viaHeader, {
      headers: { 'idempotency-key': 'header-key-1' },
    });
    const again = await client.placeOrder({ ...viaHeader, idempotencyKey: 'header-key-1' });
    expect(again.orderId).toBe(first.orderId);
  });

  test('a refusal is replayed too: same key after a restock still gets SOLD_OUT', async () => {
    await loadOpenSale(redis, keys, openSale('IDEM-2', { totalStock: 1 }));
    await client.placeOrder({ ...request, sku: 'IDEM-2', quantity: 1, idempotencyKey: 'last' });
    const big = { sku: 'IDEM-2', quantity: 2, customerId: 'bob', idempotencyKey: 'idem-key-2' };
    expect(reasonOf(await client.placeOrder(big).catch((e: unknown) => e))).toBe('SOLD_OUT');
    await redis.set(keys.stock('IDEM-2'), 10);
    const headers: Headers[] = [];
    const replay = await client
      .placeOrder(big, { onHeader: (h) => headers.push(h) })
      .catch((e: unknown) => e);
    expect(reasonOf(replay)).toBe('SOLD_OUT');
    expect((replay as ConnectError).metadata.get('idempotent-replayed')).toBe('true');
  });
});

test('token bucket: a flood admits at most burst + rate x time in any window, with no boundary double burst', async () => {
  const rate = 20;
  const burst = 10;
  await loadOpenSale(
    redis,
    keys,
    openSale('BUCKET-1', { totalStock: 1_000_000, admissionRate: rate, admissionBurst: burst }),
  );
  const client = connectClient(gates[0]!);
  const admittedAt: number[] = [];
  const refusals = new Set<string | undefined>();
  const started = Date.now();
  const runForMs = 3500;
  let i = 0;
  // 16 callers in closed loops: far more demand than 20 orders per second.
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (Date.now() - started < runForMs) {
        const n = i++;
        try {
          await client.placeOrder({
            sku: 'BUCKET-1',
            quantity: 1,
            customerId: `flood-${n}`,
            idempotencyKey: `flood-${n}`,
          });
          admittedAt.push(Date.now());
        } catch (error) {
          refusals.add(reasonOf(error));
          expect((error as ConnectError).metadata.get('retry-after')).toMatch(/^\d+$/);
        }
      }
    }),
  );
  const elapsedS = (Date.now() - started) / 1000;
  expect(refusals).toEqual(new Set(['RATE_LIMITED']));
  expect(admittedAt.length).toBeLessThanOrEqual(burst + rate * elapsedS + 1);
  expect(admittedAt.length).toBeGreaterThanOrEqual(burst + rate * (elapsedS - 1)); // it does admit at the rate
  // Any 1-second window (a fixed window's boundary included) holds at most burst + rate.
  admittedAt.sort((a, b) => a - b);
  for (let lo = 0, hi = 0; hi < admittedAt.length; hi++) {
    while (admittedAt[hi]! - admittedAt[lo]! > 1000) lo++;
    expect(hi - lo + 1).toBeLessThanOrEqual(burst + rate + 1);
  }
  // Rate-limited requests store no idempotency entry: the same key is admitted later.
  const idemKeys = await redis.keys(`${config.redisKeyPrefix}:{BUCKET-1}:idem:*`);
  expect(idemKeys).toHaveLength(admittedAt.length);
});

describe('bad input', () => {
  // A gate and key prefix of its own, so the snapshot sees nothing but this suite's requests.
  const ownConfig = isolatedConfig();
  const own = redisFor(ownConfig);
  let gate: RunningGate;
  let client: Client<typeof OrderGateService>;
  const good = { sku: 'BAD-1', quantity: 1, customerId: 'alice', idempotencyKey: 'key-1' };
  // The outbox relay's lock comes and goes every second: background activity, not a write of ours.
  const snapshot = async () =>
    new Map(
      [...(await redisSnapshot(own.redis, ownConfig.redisKeyPrefix))].filter(
        ([k]) => !k.endsWith(':relay-lock'),
      ),
    );

  beforeAll(async () => {
    gate = await startGate(ownConfig);
    await loadOpenSale(own.redis, own.keys, openSale('BAD-1', { totalStock: 10 }));
    client = createClient(OrderGateService, createGrpcTransport({ baseUrl: gate.url }));
  });

  afterAll(async () => {
    await gate.close();
    own.redis.disconnect();
  });

  test.each(badInputs)(
    '%s -> invalid_argument naming %s, Redis unchanged',
    async (_, change, field) => {
      const before = await snapshot();
      const { idempotencyKeyHeader, ...fields } = change;
      const headers =
        idempotencyKeyHeader === undefined
          ? undefined
          : { 'idempotency-key': idempotencyKeyHeader };
      const error = await client
        .placeOrder({ ...good, ...fields }, { headers })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConnectError);
      expect((error as ConnectError).code).toBe(Code.InvalidArgument);
      expect((error as ConnectError).findDetails(ErrorInfoSchema)[0]?.metadata.field).toBe(field);
      expect(await snapshot()).toEqual(before);
    },
  );

  test('an unknown sku is not_found and writes nothing', async () => {
    const before = await snapshot();
    const error = await client
      .placeOrder({ ...good, sku: 'NO-SUCH-SALE' })
      .catch((e: unknown) => e);
    expect((error as ConnectError).code).toBe(Code.NotFound);
    expect(await snapshot()).toEqual(before);
  });

  test('a message over the size limit is refused before it is read, and writes nothing', async () => {
    const before = await snapshot();
    const error = await client
      .placeOrder({ ...good, customerId: 'x'.repeat(100_000) })
      .catch((e: unknown) => e);
    expect((error as ConnectError).code).toBe(Code.ResourceExhausted);
    expect(await snapshot()).toEqual(before);
  });

  test('a deadline over the maximum is refused', async () => {
    const error = await client
      .placeOrder(good, { timeoutMs: config.maxDeadlineMs + 60_000 })
      .catch((e: unknown) => e);
    expect((error as ConnectError).code).toBe(Code.InvalidArgument);
  });
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
    await loadOpenSale(redis, keys, openSale('PROTO-1', { totalStock: 100 }));
  });

  test.each(transports)(
    '%s: PlaceOrder is accepted, and a refusal keeps its details',
    async (_, transport) => {
      const client = createClient(OrderGateService, transport(gates[1]!.url));
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
