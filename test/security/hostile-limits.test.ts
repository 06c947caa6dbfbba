/**
 * Issue #16, hostile use of the protocol layer and the doors around the handlers: messages over
 * FLUXGATE_MAX_MESSAGE_BYTES and compression bombs (the limit applies after decompression, and
 * the gate's heap stays flat over hundreds of them, measured), broken compressed bytes, zero,
 * malformed and absurd deadlines, every AdminService RPC without credentials or with wrong
 * ones, and CORS from a foreign origin; on every protocol where the input applies.
 *
 * As in hostile-inputs.test.ts: each answer's exact code (and reason), nothing of the gate's
 * insides in it, Redis, Kafka and PostgreSQL digests unchanged by the whole batch, the gate
 * serving afterwards; the answers go to test-results/hostile-inputs.md.
 */
import { randomUUID } from 'node:crypto';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  AdminService,
  GetSaleStatsRequestSchema,
  ListSalesRequestSchema,
  PauseSaleRequestSchema,
  ReconcileRequestSchema,
  RestockRequestSchema,
  ResumeSaleRequestSchema,
  UpsertSaleRequestSchema,
  WatchSaleStatsRequestSchema,
} from '../../gen/fluxgate/v1/admin_pb.js';
import { GetStockRequestSchema } from '../../gen/fluxgate/v1/inventory_pb.js';
import { PlaceOrderRequestSchema } from '../../gen/fluxgate/v1/order_gate_pb.js';
import { saleToProto } from '../../src/gate/proto-mapping.js';
import { testSale } from '../support/sales.js';
import { eventually } from '../support/stack.js';
import { adminToken, startSystem, type System } from '../support/system.js';
import {
  binaryProtocols,
  createStateProbe,
  dependencyPorts,
  describeAnswer,
  encodeFor,
  HostileBatch,
  heapMiB,
  leaksIn,
  protocolName,
  recordHostileRows,
  WireCaller,
  wireProtocols,
  type HostileRow,
  type StateDigest,
  type StateProbe,
  type WireProtocol,
  type WireRequest,
} from './support.js';

const sku = 'LIMITS-1';
const placeOrder = '/fluxgate.v1.OrderGateService/PlaceOrder';
const getStock = '/fluxgate.v1.InventoryService/GetStock';
const admin = '/fluxgate.v1.AdminService';
const allowedOrigin = 'https://shop.example';

let system: System;
let caller: WireCaller;
let probe: StateProbe;
let batch: HostileBatch;
let before: StateDigest;
const rows: HostileRow[] = [];

/** A valid PlaceOrder for `protocol`: without the hostile part, the gate would accept it. */
const validOrder = (protocol: WireProtocol) =>
  encodeFor(protocol, PlaceOrderRequestSchema, {
    sku,
    quantity: 1,
    customerId: 'mallory',
    idempotencyKey: randomUUID(),
  });

/** Brotli at a low quality: the bomb is still a few hundred bytes, and made in milliseconds. */
const brotliFast = { params: { [constants.BROTLI_PARAM_QUALITY]: 2 } };

/** `bytes` compressed as the request's encoding says, with the header each protocol uses. */
function compressed(
  protocol: WireProtocol,
  encoding: 'gzip' | 'br',
  bytes: Uint8Array,
): Omit<WireRequest, 'path'> {
  const squeezed = encoding === 'gzip' ? gzipSync(bytes) : brotliCompressSync(bytes, brotliFast);
  return protocol.startsWith('connect')
    ? { message: squeezed, headers: { 'content-encoding': encoding } }
    : { message: squeezed, flags: 0x01, headers: { 'grpc-encoding': encoding } };
}

beforeAll(async () => {
  system = await startSystem({ outboxRelayIntervalMs: 600_000, corsOrigins: [allowedOrigin] });
  await system.createSale(sku);
  caller = new WireCaller(system.gate.url);
  probe = await createStateProbe(system.config);
  batch = new HostileBatch(caller, { internalPorts: dependencyPorts(system.config) });
  before = await probe.digest();
});

afterAll(async () => {
  await recordHostileRows(
    '2-limits',
    'Sizes, compression, deadlines, admin, CORS (hostile-limits.test.ts)',
    rows,
  );
  await caller.close();
  await probe.close();
  await system.close();
});

/** Sends `request` and checks the code, the reason when given, and that nothing leaked. */
async function expectAnswer(
  family: string,
  input: string,
  protocol: WireProtocol,
  request: WireRequest,
  code: string,
  reason?: string,
) {
  const { answer, leaks } = await batch.send(family, input, protocol, request);
  const where = `${protocol}: ${answer.code} ${answer.message}`;
  expect(answer.code, where).toBe(code);
  if (reason !== undefined) expect(answer.reason, where).toBe(reason);
  expect(leaks, where).toEqual([]);
  return answer;
}

describe('sizes and compression', () => {
  const limit = () => system.config.maxMessageBytes;
  /** 50 MB of zeros: gzip makes ~50 kB of it (under the limit), brotli a few bytes. */
  const bomb = Buffer.alloc(50_000_000);
  const bombs: [WireProtocol, 'gzip' | 'br'][] = [
    ['connect-json', 'gzip'],
    ['connect-proto', 'gzip'],
    ['connect-proto', 'br'],
    ['grpc', 'gzip'],
    ['grpc', 'br'],
    ['grpc-web', 'gzip'],
    ['grpc-web', 'br'],
  ];
  // Made once per encoding: only the header and the envelope flag differ by protocol.
  const made = { gzip: compressed('grpc', 'gzip', bomb), br: compressed('grpc', 'br', bomb) };
  const squeezed = new Map(
    bombs.map(([p, e]) => [
      `${p} ${e}`,
      { ...compressed(p, e, new Uint8Array()), message: made[e].message },
    ]),
  );

  test.each(wireProtocols)(
    '%s: a message one byte over the limit is resource_exhausted',
    async (p) => {
      const over = encodeFor(p, PlaceOrderRequestSchema, {
        sku,
        quantity: 1,
        customerId: 'c'.repeat(limit()),
      });
      const answer = await expectAnswer(
        'size',
        `message of ${limit()} + bytes`,
        p,
        { path: placeOrder, message: over },
        'resource_exhausted',
      );
      // The same request would fail again: no retry delay.
      expect(answer.headers['retry-after']).toBeUndefined();
    },
  );

  test.each(bombs)('%s, %s bomb (50 MB of zeros) is resource_exhausted', async (p, encoding) => {
    const request = squeezed.get(`${p} ${encoding}`);
    expect(request?.message.length).toBeLessThan(limit());
    const answer = await expectAnswer(
      'compression bomb',
      `${encoding} of 50 MB of zeros (${request?.message.length} bytes sent)`,
      p,
      { path: placeOrder, ...request, message: request?.message ?? '' },
      'resource_exhausted',
    );
    expect(answer.message).toMatch(/after decompression/);
  });

  test('300 more bombs leave the heap where it was', async () => {
    const heapBefore = heapMiB();
    const rssBefore = process.memoryUsage().rss / 2 ** 20;
    for (let i = 0; i < 300; i++) {
      const [p, encoding] = bombs[i % bombs.length] ?? bombs[0]!;
      const answer = await caller.call(p, {
        path: placeOrder,
        ...squeezed.get(`${p} ${encoding}`)!,
      });
      expect(answer.code).toBe('resource_exhausted');
    }
    const heapAfter = heapMiB();
    const rssAfter = process.memoryUsage().rss / 2 ** 20;
    console.info(
      `300 bombs: heap ${heapBefore.toFixed(1)} -> ${heapAfter.toFixed(1)} MiB, rss ${rssBefore.toFixed(0)} -> ${rssAfter.toFixed(0)} MiB`,
    );
    batch.note(
      'compression bomb',
      '300 bombs in a row, every protocol and encoding',
      'all',
      `\`resource_exhausted\` ×300; heap after GC ${heapBefore.toFixed(1)} → ${heapAfter.toFixed(1)} MiB`,
    );
    expect(heapAfter).toBeLessThanOrEqual(heapBefore + 16);
  });

  test.each([
    ['gzip', 'truncated gzip of a valid order', (b: Uint8Array) => gzipSync(b).subarray(0, 12)],
    [
      'br',
      'truncated brotli of a valid order',
      (b: Uint8Array) => brotliCompressSync(b).subarray(0, 3),
    ],
    ['gzip', 'bytes that are not gzip at all', () => Buffer.from('not gzip at all')],
  ] as const)('%s: %s is invalid_argument', async (encoding, input, make) => {
    for (const p of binaryProtocols) {
      const { headers, flags } = compressed(p, encoding, new Uint8Array());
      await expectAnswer(
        'broken compression',
        input,
        p,
        { path: placeOrder, message: make(validOrder(p) as Uint8Array), headers, flags },
        'invalid_argument',
      );
    }
  });

  test('an encoding the gate does not accept (zstd) is unimplemented', async () => {
    for (const p of binaryProtocols) {
      const header = p === 'connect-proto' ? 'content-encoding' : 'grpc-encoding';
      await expectAnswer(
        'broken compression',
        'encoding zstd',
        p,
        {
          path: placeOrder,
          message: validOrder(p),
          headers: { [header]: 'zstd' },
          flags: p === 'connect-proto' ? 0 : 1,
        },
        'unimplemented',
      );
    }
  });

  // connect-es answers internal here (envelopeDecompress, shared with clients); the patch to
  // @connectrpc/connect (patches/) makes a server answer invalid_argument, as docs/refusals.md
  // promises for every bad frame.
  test('a compressed-flagged envelope without grpc-encoding is invalid_argument', async () => {
    for (const p of ['grpc', 'grpc-web'] as const)
      await expectAnswer(
        'broken compression',
        'envelope flagged compressed (0x01), no grpc-encoding (patched @connectrpc/connect)',
        p,
        { path: placeOrder, message: validOrder(p), flags: 0x01 },
        'invalid_argument',
      );
  });
});

describe('deadlines', () => {
  const grpcLike = ['grpc', 'grpc-web'] as const;
  const connect = ['connect-json', 'connect-proto'] as const;

  test('zero: deadline_exceeded before anything is read (a valid order is not placed)', async () => {
    for (const p of connect)
      await expectAnswer(
        'deadline',
        'connect-timeout-ms: 0',
        p,
        { path: placeOrder, message: validOrder(p), headers: { 'connect-timeout-ms': '0' } },
        'deadline_exceeded',
      );
    for (const p of grpcLike)
      await expectAnswer(
        'deadline',
        'grpc-timeout: 0n',
        p,
        { path: placeOrder, message: validOrder(p), headers: { 'grpc-timeout': '0n' } },
        'deadline_exceeded',
      );
  });

  test('malformed: invalid_argument', async () => {
    for (const value of ['99999999999', '-5', '1.5'])
      for (const p of connect)
        await expectAnswer(
          'deadline',
          `connect-timeout-ms: ${value}`,
          p,
          { path: placeOrder, message: validOrder(p), headers: { 'connect-timeout-ms': value } },
          'invalid_argument',
        );
    for (const value of ['123456789S', '-1S', '5X'])
      for (const p of grpcLike)
        await expectAnswer(
          'deadline',
          `grpc-timeout: ${value}`,
          p,
          { path: placeOrder, message: validOrder(p), headers: { 'grpc-timeout': value } },
          'invalid_argument',
        );
  });

  test('absurd: clamped to FLUXGATE_MAX_DEADLINE_MS and served (GetStock, which writes nothing)', async () => {
    for (const p of connect)
      await expectAnswer(
        'deadline',
        'connect-timeout-ms: 9999999999 (115 days)',
        p,
        {
          path: getStock,
          message: encodeFor(p, GetStockRequestSchema, { sku }),
          headers: { 'connect-timeout-ms': '9999999999' },
        },
        'ok',
      );
    for (const p of grpcLike)
      await expectAnswer(
        'deadline',
        'grpc-timeout: 99999999H (11,000 years)',
        p,
        {
          path: getStock,
          message: encodeFor(p, GetStockRequestSchema, { sku }),
          headers: { 'grpc-timeout': '99999999H' },
        },
        'ok',
      );
  });
});

describe('AdminService without the right credentials', () => {
  const calls: [string, Parameters<typeof encodeFor>[1], Record<string, unknown>][] = [
    [
      'UpsertSale',
      UpsertSaleRequestSchema,
      { sale: saleToProto(testSale(sku, { totalStock: 1 })) },
    ],
    ['Restock', RestockRequestSchema, { sku, units: 1000n, idempotencyKey: 'r-1' }],
    ['PauseSale', PauseSaleRequestSchema, { sku }],
    ['ResumeSale', ResumeSaleRequestSchema, { sku }],
    ['ListSales', ListSalesRequestSchema, {}],
    ['GetSaleStats', GetSaleStatsRequestSchema, { sku }],
    ['Reconcile', ReconcileRequestSchema, { sku, repair: true }],
    ['WatchSaleStats', WatchSaleStatsRequestSchema, { sku }],
  ];
  const streaming = new Set(
    AdminService.methods.filter((m) => m.methodKind === 'server_streaming').map((m) => m.name),
  );
  const credentials: [string, Record<string, string>][] = [
    ['no authorization header', {}],
    ['a wrong token', { authorization: 'Bearer wrong-token-0123456789abcdef' }],
    ['the right token with a byte more', { authorization: `Bearer ${adminToken}x` }],
    [
      'the right token as Basic',
      { authorization: `Basic ${Buffer.from(`admin:${adminToken}`).toString('base64')}` },
    ],
    ['an empty Bearer', { authorization: 'Bearer ' }],
  ];

  test.each(calls)(
    '%s: unauthenticated on every protocol, with every wrong credential',
    async (rpc, schema, fields) => {
      for (const [input, headers] of credentials)
        for (const p of wireProtocols)
          await expectAnswer(
            'admin',
            `${rpc}, ${input}`,
            p,
            {
              path: `${admin}/${rpc}`,
              message: encodeFor(p, schema, fields),
              headers,
              stream: streaming.has(rpc),
            },
            'unauthenticated',
            'UNAUTHENTICATED',
          );
    },
  );

  test('with the right token, out-of-range admin input is refused naming the field', async () => {
    const auth = { authorization: `Bearer ${adminToken}` };
    const bad: [
      string,
      string,
      Parameters<typeof encodeFor>[1],
      Record<string, unknown>,
      string,
    ][] = [
      [
        'Restock units 2^63-1',
        'Restock',
        RestockRequestSchema,
        { sku, units: 2n ** 63n - 1n },
        'units',
      ],
      ['Restock units -1', 'Restock', RestockRequestSchema, { sku, units: -1n }, 'units'],
      [
        "PauseSale sku `x'; DROP TABLE product;--`",
        'PauseSale',
        PauseSaleRequestSchema,
        { sku: "x'; DROP TABLE product;--" },
        'sku',
      ],
      ['GetSaleStats sku `*`', 'GetSaleStats', GetSaleStatsRequestSchema, { sku: '*' }, 'sku'],
      [
        'UpsertSale total stock 2^62',
        'UpsertSale',
        UpsertSaleRequestSchema,
        { sale: saleToProto(testSale('LIMITS-2', { totalStock: 2 ** 62 })) },
        'sale.total_stock',
      ],
      [
        "UpsertSale sku `' OR 1=1--`",
        'UpsertSale',
        UpsertSaleRequestSchema,
        { sale: saleToProto(testSale("' OR 1=1--")) },
        'sale.sku',
      ],
    ];
    for (const [input, rpc, schema, fields, field] of bad)
      for (const p of wireProtocols) {
        const answer = await expectAnswer(
          'admin',
          `${input} (right token)`,
          p,
          { path: `${admin}/${rpc}`, message: encodeFor(p, schema, fields), headers: auth },
          'invalid_argument',
          'INVALID_ARGUMENT',
        );
        expect(answer.field).toBe(field);
      }
  });
});

describe('CORS', () => {
  const foreign = ['https://evil.example', `${allowedOrigin}.evil.example`, 'null'];
  const preflight = (origin: string) =>
    caller.plain('OPTIONS', placeOrder, {
      origin,
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'content-type,connect-protocol-version,idempotency-key',
    });

  test.each(foreign)('a preflight from %s is not allowed', async (origin) => {
    const res = await preflight(origin);
    const allowed = res.headers['access-control-allow-origin'];
    batch.note(
      'CORS',
      `preflight from \`${origin}\``,
      'HTTP/1.1 OPTIONS',
      `HTTP ${res.status}, access-control-allow-origin ${allowed ?? 'absent'}`,
    );
    expect(allowed).toBeUndefined();
  });

  test('a preflight from the configured origin is allowed (control)', async () => {
    const res = await preflight(allowedOrigin);
    batch.note(
      'CORS',
      `preflight from the configured \`${allowedOrigin}\` (control)`,
      'HTTP/1.1 OPTIONS',
      `HTTP ${res.status}, access-control-allow-origin \`${res.headers['access-control-allow-origin']}\``,
    );
    expect(res.headers['access-control-allow-origin']).toBe(allowedOrigin);
  });

  test('a call from a foreign origin gets no access-control-allow-origin on any protocol', async () => {
    for (const p of wireProtocols) {
      const answer = await caller.call(p, {
        path: getStock,
        message: encodeFor(p, GetStockRequestSchema, { sku }),
        headers: { origin: 'https://evil.example' },
      });
      const allowed = answer.headers['access-control-allow-origin'];
      batch.note(
        'CORS',
        'GetStock from `https://evil.example` (served: CORS is for browsers, and a browser gets no read access)',
        protocolName[p],
        `${describeAnswer(answer)}, access-control-allow-origin ${allowed ?? 'absent'}`,
      );
      expect(leaksIn(answer, [], { internalPorts: dependencyPorts(system.config) })).toEqual([]);
      expect(allowed).toBeUndefined();
    }
  });
});

test('afterwards: Redis, Kafka and PostgreSQL unchanged, and the gate serves', async () => {
  const after = await probe.digest();
  rows.push(...batch.rows(JSON.stringify(after) === JSON.stringify(before) ? 'yes' : 'NO'));
  expect(after).toEqual(before);
  const placed = await system.place(sku, 'after-the-attack');
  expect(placed.orderId).not.toBe('');
  await eventually(
    async () => (await system.inventory.getStock({ sku })).stock?.unitsLeft === 99n,
    5000,
    'the order counted',
  );
});
