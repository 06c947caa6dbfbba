/**
 * Issue #16, hostile request messages: every public RPC (PlaceOrder, GetOrder, WatchOrder,
 * GetStock, WatchStock) sent out-of-range numbers, SQL and Redis metacharacters, bad
 * idempotency keys, invalid UTF-8, integer overflow on the wire, duplicate-key and deeply
 * nested JSON, unknown fields and malformed gRPC / gRPC-Web framing, byte for byte over each
 * protocol where the input can be expressed: Connect JSON, Connect binary, gRPC, gRPC-Web.
 *
 * Each answer must be the precise code (and ErrorInfo reason and field where the gate's
 * validation decides), and nothing in it may give away the gate's insides (a stack frame, a
 * source position, a file path, a database or Redis error, a dependency's address). Redis,
 * Kafka and PostgreSQL must be unchanged by the whole refused batch (digests), and the gate
 * still serving. Then the inputs the gate serves on purpose (unknown fields, idempotency keys
 * of `{}` and `*`) are sent and served the same on every protocol. The answers are written to
 * test-results/hostile-inputs.md.
 */
import type { DescMessage } from '@bufbuild/protobuf';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  GetStockRequestSchema,
  WatchStockRequestSchema,
} from '../../gen/fluxgate/v1/inventory_pb.js';
import {
  GetOrderRequestSchema,
  PlaceOrderRequestSchema,
  WatchOrderRequestSchema,
} from '../../gen/fluxgate/v1/order_gate_pb.js';
import { OrderStatus } from '../../gen/fluxgate/v1/order_pb.js';
import { startSystem, type System } from '../support/system.js';
import { eventually } from '../support/stack.js';
import {
  binaryProtocols,
  createStateProbe,
  dependencyPorts,
  encodeFor,
  HostileBatch,
  leaksIn,
  recordHostileRows,
  WireCaller,
  wireProtocols,
  type HostileRow,
  type StateDigest,
  type StateProbe,
  type WireProtocol,
  type WireRequest,
} from './support.js';
import { envelope } from '../support/wire.js';

const sku = 'HOSTILE-1';
const orders = '/fluxgate.v1.OrderGateService';
const inventory = '/fluxgate.v1.InventoryService';
const placeOrder = `${orders}/PlaceOrder`;

let system: System;
let caller: WireCaller;
let probe: StateProbe;
let batch: HostileBatch;
let before: StateDigest;
/** The refused batch's rows, once its state has been compared; then the served rows. */
const rows: HostileRow[] = [];

/** The request message `fields` of `schema` for `protocol`: JSON text or protobuf bytes. */
const message = (schema: DescMessage, fields: Record<string, unknown>, protocol: WireProtocol) =>
  encodeFor(protocol, schema, fields);

/** A valid PlaceOrder with `change`, for a sale that exists. */
const order = (change: Record<string, unknown> = {}) => ({
  sku,
  quantity: 1,
  customerId: 'mallory',
  idempotencyKey: `k-${randomUUID()}`,
  ...change,
});

/** Protobuf bytes written by hand: what no generated encoder produces. */
function bytes(write: (w: BinaryWriter) => void): Uint8Array {
  const w = new BinaryWriter();
  write(w);
  return w.finish();
}

/** A valid PlaceOrder's fields in protobuf, but for `except` (field numbers), then `extra`. */
function orderBytesWith(extra: (w: BinaryWriter) => void, except: number[] = []): Uint8Array {
  return bytes((w) => {
    if (!except.includes(1)) w.tag(1, WireType.LengthDelimited).string(sku);
    if (!except.includes(2)) w.tag(2, WireType.Varint).int32(1);
    if (!except.includes(3)) w.tag(3, WireType.LengthDelimited).string('mallory');
    if (!except.includes(4)) w.tag(4, WireType.LengthDelimited).string(`k-${randomUUID()}`);
    extra(w);
  });
}

/** One hostile input, the protocols it can be expressed in, and the answer it must get. */
interface Case {
  readonly family: string;
  readonly input: string;
  readonly protocols: readonly WireProtocol[];
  readonly request: (protocol: WireProtocol) => WireRequest;
  readonly code: string;
  /** ErrorInfo reason and field, when the gate's own validation answers. */
  readonly reason?: string;
  readonly field?: string;
  /** Values the answer may repeat back (a decoder naming the bad value is not a leak). */
  readonly echoes?: readonly string[];
}

/** A field the gate's validation refuses: INVALID_ARGUMENT naming `field`, on every protocol. */
function invalidField(
  family: string,
  input: string,
  path: string,
  schema: DescMessage,
  fields: Record<string, unknown>,
  field: string,
  stream = false,
): Case {
  return {
    family,
    input,
    protocols: wireProtocols,
    request: (p) => ({ path, message: message(schema, fields, p), stream }),
    code: 'invalid_argument',
    reason: 'INVALID_ARGUMENT',
    field,
  };
}

/** PlaceOrder with `change`, refused naming `field`. */
const badOrder = (family: string, input: string, change: Record<string, unknown>, field: string) =>
  invalidField(family, input, placeOrder, PlaceOrderRequestSchema, order(change), field);

/** Raw JSON text for Connect JSON only. */
function json(
  family: string,
  input: string,
  body: string | Uint8Array,
  answer: Pick<Case, 'code' | 'reason' | 'field' | 'echoes'>,
): Case {
  return {
    family,
    input,
    protocols: ['connect-json'],
    request: () => ({ path: placeOrder, message: body }),
    ...answer,
  };
}

/** Raw protobuf bytes (or a raw body) for the binary protocols. */
function binary(
  family: string,
  input: string,
  request: Omit<WireRequest, 'path'>,
  answer: Pick<Case, 'code' | 'reason' | 'field' | 'echoes'>,
  protocols: readonly WireProtocol[] = binaryProtocols,
): Case {
  return { family, input, protocols, request: () => ({ path: placeOrder, ...request }), ...answer };
}

const quantityRefused = { code: 'invalid_argument', reason: 'INVALID_ARGUMENT', field: 'quantity' };
/** A decoder's refusal: the protocol layer answers, before the gate's validation. */
const undecodable = { code: 'invalid_argument' };
const enveloped = ['grpc', 'grpc-web'] as const;
const deep = 20_000;
const sqlSku = `${sku}' OR '1'='1`;
const redisSku = `${sku}}{*`;

const cases: Case[] = [
  // Quantities and integer overflow.
  badOrder('quantity', 'quantity 0', { quantity: 0 }, 'quantity'),
  badOrder('quantity', 'quantity -1', { quantity: -1 }, 'quantity'),
  badOrder('quantity', 'quantity 11 (cap is 10)', { quantity: 11 }, 'quantity'),
  badOrder('quantity', 'quantity 2147483647 (int32 max)', { quantity: 2_147_483_647 }, 'quantity'),
  badOrder(
    'quantity',
    'quantity -2147483648 (int32 min)',
    { quantity: -2_147_483_648 },
    'quantity',
  ),
  binary(
    'integer overflow',
    'quantity as a 64-bit varint 2^32 (an int32 reads it as 0)',
    { message: orderBytesWith((w) => w.tag(2, WireType.Varint).uint64(2n ** 32n), [2]) },
    quantityRefused,
  ),
  binary(
    'integer overflow',
    'quantity as a varint 2^63-1 (an int32 reads it as -1)',
    { message: orderBytesWith((w) => w.tag(2, WireType.Varint).uint64(2n ** 63n - 1n), [2]) },
    quantityRefused,
  ),
  binary(
    'integer overflow',
    'quantity as an 11-byte varint (past 64 bits)',
    {
      message: Buffer.concat([
        orderBytesWith(() => undefined, [2]),
        Buffer.of(0x10, ...Array<number>(10).fill(0xff), 0x01),
      ]),
    },
    undecodable,
  ),
  json(
    'integer overflow',
    'JSON quantity 2147483648 (past int32)',
    JSON.stringify(order()).replace('"quantity":1', '"quantity":2147483648'),
    { ...undecodable, echoes: ['2147483648'] },
  ),
  json(
    'integer overflow',
    'JSON quantity 1e400 (Infinity)',
    JSON.stringify(order()).replace('"quantity":1', '"quantity":1e400'),
    undecodable,
  ),
  json(
    'integer overflow',
    'JSON quantity 1.5',
    JSON.stringify(order()).replace('"quantity":1', '"quantity":1.5'),
    { ...undecodable, echoes: ['1.5'] },
  ),
  // Idempotency keys.
  badOrder(
    'idempotency key',
    'key of 256 characters',
    { idempotencyKey: 'k'.repeat(256) },
    'idempotency_key',
  ),
  badOrder(
    'idempotency key',
    'key of 60,000 characters',
    { idempotencyKey: 'k'.repeat(60_000) },
    'idempotency_key',
  ),
  badOrder(
    'idempotency key',
    'key with a control character (\\u0001)',
    { idempotencyKey: 'k\u0001' },
    'idempotency_key',
  ),
  badOrder(
    'idempotency key',
    'key with CRLF (k\\r\\nSET x 1)',
    { idempotencyKey: 'k\r\nSET x 1' },
    'idempotency_key',
  ),
  badOrder('idempotency key', 'key with NUL', { idempotencyKey: 'k\u0000' }, 'idempotency_key'),
  badOrder(
    'idempotency key',
    'key with non-ASCII (clé)',
    { idempotencyKey: 'clé' },
    'idempotency_key',
  ),
  badOrder('idempotency key', 'empty key', { idempotencyKey: '' }, 'idempotency_key'),
  // SQL and Redis metacharacters.
  badOrder('metacharacters', `sku \`${sqlSku}\``, { sku: sqlSku }, 'sku'),
  badOrder(
    'metacharacters',
    "sku `x'; DROP TABLE orders;--`",
    { sku: "x'; DROP TABLE orders;--" },
    'sku',
  ),
  badOrder('metacharacters', `sku \`${redisSku}\` (hash tag, glob)`, { sku: redisSku }, 'sku'),
  badOrder('metacharacters', 'sku `*`', { sku: '*' }, 'sku'),
  badOrder(
    'metacharacters',
    'sku with CRLF (HOSTILE-1\\r\\nFLUSHALL)',
    { sku: `${sku}\r\nFLUSHALL` },
    'sku',
  ),
  badOrder(
    'metacharacters',
    "customer `' OR 1=1; DELETE FROM orders;--`",
    { customerId: "' OR 1=1; DELETE FROM orders;--" },
    'customer_id',
  ),
  badOrder('metacharacters', 'customer `a}{b` (hash tag)', { customerId: 'a}{b' }, 'customer_id'),
  badOrder('metacharacters', 'customer `*`', { customerId: '*' }, 'customer_id'),
  badOrder(
    'metacharacters',
    'customer with CRLF (a\\r\\nFLUSHALL\\r\\n)',
    { customerId: 'a\r\nFLUSHALL\r\n' },
    'customer_id',
  ),
  badOrder(
    'metacharacters',
    'customer with a Lua pattern (`%s%d`)',
    { customerId: '%s%d' },
    'customer_id',
  ),
  invalidField(
    'metacharacters',
    "GetOrder order id `' OR '1'='1`",
    `${orders}/GetOrder`,
    GetOrderRequestSchema,
    { orderId: "' OR '1'='1" },
    'order_id',
  ),
  invalidField(
    'metacharacters',
    'GetOrder order id `*`',
    `${orders}/GetOrder`,
    GetOrderRequestSchema,
    { orderId: '*' },
    'order_id',
  ),
  invalidField(
    'metacharacters',
    'GetOrder order id `../../etc/passwd`',
    `${orders}/GetOrder`,
    GetOrderRequestSchema,
    { orderId: '../../etc/passwd' },
    'order_id',
  ),
  invalidField(
    'metacharacters',
    'WatchOrder order id `{x}*` (server stream)',
    `${orders}/WatchOrder`,
    WatchOrderRequestSchema,
    { orderId: '{x}*' },
    'order_id',
    true,
  ),
  invalidField(
    'metacharacters',
    `GetStock sku \`${sqlSku}\``,
    `${inventory}/GetStock`,
    GetStockRequestSchema,
    { sku: sqlSku },
    'sku',
  ),
  invalidField(
    'metacharacters',
    'GetStock sku `*`',
    `${inventory}/GetStock`,
    GetStockRequestSchema,
    { sku: '*' },
    'sku',
  ),
  invalidField(
    'metacharacters',
    `WatchStock sku \`${redisSku}\` (server stream)`,
    `${inventory}/WatchStock`,
    WatchStockRequestSchema,
    { sku: redisSku },
    'sku',
    true,
  ),
  {
    family: 'unknown names',
    input: 'GetOrder for a well-formed order id nobody issued',
    protocols: wireProtocols,
    request: (p) => ({
      path: `${orders}/GetOrder`,
      message: message(
        GetOrderRequestSchema,
        { orderId: '00000000-0000-7000-8000-000000000000' },
        p,
      ),
    }),
    code: 'not_found',
    reason: 'ORDER_NOT_FOUND',
  },
  {
    family: 'unknown names',
    input: 'PlaceOrder for an sku with no sale',
    protocols: wireProtocols,
    request: (p) => ({
      path: placeOrder,
      message: message(PlaceOrderRequestSchema, order({ sku: 'NO-SUCH-SALE' }), p),
    }),
    code: 'not_found',
    reason: 'SALE_NOT_FOUND',
  },
  // Invalid UTF-8.
  json(
    'invalid UTF-8',
    'JSON customer id with the bytes C3 28 (decoded as U+FFFD)',
    Buffer.concat(
      JSON.stringify(order())
        .split('mallory')
        .flatMap((part, i) =>
          i === 0 ? [Buffer.from(part)] : [Buffer.of(0xc3, 0x28), Buffer.from(part)],
        ),
    ),
    { code: 'invalid_argument', reason: 'INVALID_ARGUMENT', field: 'customer_id' },
  ),
  binary(
    'invalid UTF-8',
    'protobuf sku with the bytes C3 28',
    {
      message: orderBytesWith(
        (w) => w.tag(1, WireType.LengthDelimited).bytes(Uint8Array.of(0xc3, 0x28)),
        [1],
      ),
    },
    undecodable,
  ),
  binary(
    'invalid UTF-8',
    'protobuf idempotency key with a lone surrogate (ED A0 80)',
    {
      message: orderBytesWith(
        (w) => w.tag(4, WireType.LengthDelimited).bytes(Uint8Array.of(0xed, 0xa0, 0x80)),
        [4],
      ),
    },
    undecodable,
  ),
  // JSON structure.
  json(
    'JSON structure',
    'duplicate key: "quantity":1 then "quantity":0',
    JSON.stringify(order()).replace('"quantity":1', '"quantity":1,"quantity":0'),
    undecodable,
  ),
  json(
    'JSON structure',
    'one field twice under both names: "customerId" and "customer_id"',
    JSON.stringify(order()).replace(
      '"customerId":"mallory"',
      '"customerId":"mallory","customer_id":"alice"',
    ),
    undecodable,
  ),
  json(
    'JSON structure',
    `sku nested ${deep} arrays deep`,
    JSON.stringify(order()).replace(
      `"sku":"${sku}"`,
      `"sku":${'['.repeat(deep)}${']'.repeat(deep)}`,
    ),
    undecodable,
  ),
  json(
    'JSON structure',
    `an unknown field nested ${deep / 4} objects deep, quantity 0`,
    JSON.stringify(order({ quantity: 0 })).replace(
      '{',
      `{"zz":${'{"a":'.repeat(deep / 4)}1${'}'.repeat(deep / 4)},`,
    ),
    quantityRefused,
  ),
  json(
    'JSON structure',
    '"__proto__": {"quantity": 5} beside quantity 0 (prototype pollution)',
    JSON.stringify(order({ quantity: 0 })).replace(
      '{',
      '{"__proto__":{"quantity":5},"constructor":{"prototype":{"quantity":5}},',
    ),
    quantityRefused,
  ),
  json('JSON structure', 'body `null`', 'null', undecodable),
  json('JSON structure', 'body `[]`', '[]', undecodable),
  json('JSON structure', 'body `{"sku": ` (truncated)', '{"sku": ', undecodable),
  json('JSON structure', 'body of 50,000 spaces', ' '.repeat(50_000), undecodable),
  // Unknown fields and enum values: ignored by both the JSON and the binary rules of connect-es
  // (ignoreUnknownFields, as connect-go's DiscardUnknown); here the rest of the request is refused.
  json(
    'unknown fields',
    'JSON unknown field "evil":1 beside quantity 0',
    JSON.stringify(order({ quantity: 0 })).replace('{', '{"evil":1,'),
    quantityRefused,
  ),
  json(
    'unknown fields',
    'JSON unknown enum-valued field "state":"SALE_STATE_BOGUS" beside quantity 0 (no request has an enum)',
    JSON.stringify(order({ quantity: 0 })).replace('{', '{"state":"SALE_STATE_BOGUS",'),
    quantityRefused,
  ),
  binary(
    'unknown fields',
    'protobuf unknown field 99 (varint 1) beside quantity 0',
    {
      message: orderBytesWith(
        (w) => w.tag(2, WireType.Varint).int32(0).tag(99, WireType.Varint).uint32(1),
        [2],
      ),
    },
    quantityRefused,
  ),
  binary(
    'unknown fields',
    'protobuf field 2 (quantity) sent with the wrong wire type (length-delimited)',
    { message: orderBytesWith((w) => w.tag(2, WireType.LengthDelimited).string('10'), [2]) },
    undecodable,
  ),
  // Framing.
  binary(
    'framing',
    'envelope promising 100 bytes, carrying 2',
    { message: Buffer.of(0, 0, 0, 0, 100, 1, 2), enveloped: true },
    undecodable,
    enveloped,
  ),
  binary(
    'framing',
    'a 3-byte envelope header',
    { message: Buffer.of(0, 0, 0), enveloped: true },
    undecodable,
    enveloped,
  ),
  binary(
    'framing',
    'envelope length 0xFFFFFFFF (4 GiB)',
    { message: Buffer.of(0, 0xff, 0xff, 0xff, 0xff, 1, 2), enveloped: true },
    { code: 'resource_exhausted' },
    enveloped,
  ),
  binary(
    'framing',
    'two messages to a unary method',
    {
      message: Buffer.concat([
        envelope(orderBytesWith(() => undefined)),
        envelope(orderBytesWith(() => undefined)),
      ]),
      enveloped: true,
    },
    { code: 'unimplemented' },
    enveloped,
  ),
  binary(
    'framing',
    'no message to a unary method',
    { message: Buffer.alloc(0), enveloped: true },
    { code: 'unimplemented' },
    enveloped,
  ),
  binary(
    'framing',
    'request envelope flagged as a trailer (0x80), quantity 0',
    { message: orderBytesWith((w) => w.tag(2, WireType.Varint).int32(0), [2]), flags: 0x80 },
    { code: 'unimplemented' },
    ['grpc-web'],
  ),
  binary(
    'framing',
    'request envelope with the undefined flag 0x02, quantity 0',
    { message: orderBytesWith((w) => w.tag(2, WireType.Varint).int32(0), [2]), flags: 0x02 },
    quantityRefused,
    enveloped,
  ),
  binary(
    'framing',
    'gRPC-Web body declared application/grpc-web+json, protobuf inside',
    {
      message: orderBytesWith(() => undefined),
      headers: { 'content-type': 'application/grpc-web+json' },
    },
    undecodable,
    ['grpc-web'],
  ),
  binary(
    'framing',
    'gRPC-Web text (base64) framing, which the gate does not serve',
    {
      message: envelope(orderBytesWith(() => undefined)).toString('base64'),
      enveloped: true,
      headers: { 'content-type': 'application/grpc-web-text' },
    },
    { code: 'http 415' },
    ['grpc-web'],
  ),
];

beforeAll(async () => {
  // The outbox relay's lock comes and goes on its own timer: kept quiet for the digests.
  system = await startSystem({ outboxRelayIntervalMs: 600_000 });
  await system.createSale(sku);
  // One order through to the database, so that every table has something to protect.
  const placed = await system.place(sku, 'seed');
  await eventually(
    async () =>
      (await system.orders.getOrder({ orderId: placed.orderId })).order?.status ===
      OrderStatus.CONFIRMED,
    20_000,
    'the seed order confirmed',
  );
  // Token buckets expire a few seconds after the seed order refilled them: not ours to count.
  const buckets = `${system.config.redisKeyPrefix}:*:bucket*`;
  await eventually(
    async () => (await system.redis.keys(buckets)).length === 0,
    10_000,
    'buckets expired',
  );
  caller = new WireCaller(system.gate.url);
  probe = await createStateProbe(system.config);
  batch = new HostileBatch(caller, { internalPorts: dependencyPorts(system.config) });
  before = await probe.digest();
});

afterAll(async () => {
  await recordHostileRows('1-messages', 'Request messages (hostile-inputs.test.ts)', rows);
  await caller.close();
  await probe.close();
  await system.close();
});

describe('refused, touching nothing', () => {
  test.each(cases)('$family: $input', async (c) => {
    for (const protocol of c.protocols) {
      const { answer, leaks } = await batch.send(
        c.family,
        c.input,
        protocol,
        c.request(protocol),
        c.echoes,
      );
      const where = `${protocol}: ${answer.code} ${answer.message}`;
      expect(answer.code, where).toBe(c.code);
      expect(answer.reason, where).toBe(c.reason);
      if (c.field !== undefined) expect(answer.field, where).toBe(c.field);
      expect(leaks, where).toEqual([]);
    }
  });

  test('Redis, Kafka and PostgreSQL are unchanged, and the gate still serves', async () => {
    const after = await probe.digest();
    rows.push(...batch.rows(JSON.stringify(after) === JSON.stringify(before) ? 'yes' : 'NO'));
    expect(after).toEqual(before);
    const stock = await system.inventory.getStock({ sku });
    expect(stock.stock?.sku).toBe(sku);
  });
});

describe('served on purpose, the same on every protocol', () => {
  let served: HostileBatch;

  beforeAll(() => {
    served = new HostileBatch(caller, { internalPorts: dependencyPorts(system.config) });
  });

  afterAll(() => {
    rows.push(...served.rows('served: one order accepted, as asked'));
  });

  /** Sends a valid order with `change` (and `json` / `binary` edits) over every protocol. */
  async function serve(family: string, input: string, request: (p: WireProtocol) => WireRequest) {
    for (const protocol of wireProtocols) {
      const sent = await served.send(family, input, protocol, request(protocol));
      expect(sent.answer.code, `${protocol}: ${sent.answer.message}`).toBe('ok');
    }
  }

  test.each([['{}'], ['*'], ['a{b}*c?[d]']])(
    'an idempotency key of %s is served, and only its hash reaches Redis',
    async (key) => {
      const customer = `key-${randomUUID().slice(0, 8)}`;
      await serve('idempotency key', `key \`${key}\``, (p) => ({
        path: placeOrder,
        // One customer per protocol: the same key from one customer is one order.
        message: message(
          PlaceOrderRequestSchema,
          order({ idempotencyKey: key, customerId: `${customer}-${p}` }),
          p,
        ),
      }));
      const names = await system.redis.keys(`${system.config.redisKeyPrefix}:*`);
      expect(names.filter((n) => n.includes(key))).toEqual([]);
    },
  );

  test('unknown fields are ignored: JSON "evil":1 and protobuf field 99', async () => {
    await serve(
      'unknown fields',
      'unknown field beside a valid order (JSON "evil":1, protobuf field 99)',
      (p) => ({
        path: placeOrder,
        message:
          p === 'connect-json'
            ? JSON.stringify(order({ customerId: 'unknown-fields' })).replace(
                '{',
                '{"evil":{"nested":[1,2,3]},',
              )
            : bytes((w) => {
                w.tag(1, WireType.LengthDelimited).string(sku).tag(2, WireType.Varint).int32(1);
                w.tag(3, WireType.LengthDelimited).string(`unknown-fields-${p}`);
                w.tag(4, WireType.LengthDelimited).string(randomUUID());
                w.tag(99, WireType.Varint).uint32(1);
              }),
      }),
    );
  });
});

test('the leak check finds what it looks for', () => {
  const answer = {
    httpStatus: 500,
    code: 'internal',
    message: '',
    headers: {},
    text: 'Error: x\n    at run (/work/main/src/a.ts:3:7)\nrelation "orders" does not exist 127.0.0.1:6379',
  };
  expect(leaksIn(answer, [], { internalPorts: [6379] })).toEqual([
    'a stack frame',
    'a source position',
    'a file path',
    'a database error',
    'port 6379',
  ]);
});
