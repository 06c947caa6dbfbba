/**
 * Malformed bytes are the caller's error: a request whose message cannot be decoded (broken
 * protobuf, invalid UTF-8 in a string, broken base64 in a Connect GET, malformed JSON) answers
 * invalid_argument on every protocol, says nothing about the server's insides, touches nothing,
 * and is counted apart from the RPCs that reached a handler.
 */
import { envelopes } from '../support/wire.js';
import http2 from 'node:http2';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startGate, type RunningGate } from '../../src/main-gate.js';
import { sample } from '../support/metrics.js';
import { loadTestSale, testSale } from '../support/sales.js';
import { isolatedConfig, redisFor, redisSnapshot } from '../support/stack.js';

// The outbox relay takes a lock key in Redis on its own timer: kept out of the snapshots.
const config = isolatedConfig({ outboxRelayIntervalMs: 600_000 });
const { redis, keys } = redisFor(config);
let gate: RunningGate;
let before: Map<string, string>;

const service = '/fluxgate.v1.OrderGateService';
const placeOrder = `${service}/PlaceOrder`;
const getOrder = `${service}/GetOrder`;
const watchOrder = `${service}/WatchOrder`;

/** Request messages no protobuf decoder accepts. */
const malformed: [string, Uint8Array][] = [
  ['a lone end-group tag', Uint8Array.of(0x0c)],
  ['a truncated string field', Uint8Array.of(0x0a, 0x05, 0x41)],
  ['invalid UTF-8 in a string field', Uint8Array.of(0x0a, 0x02, 0xc3, 0x28)],
];

/** What the caller learns: the code's name and the message. */
interface Answer {
  code: string;
  message: string;
  /** HTTP status of a Connect or gRPC-Web answer. */
  status?: number;
}

const grpcCodeNames: Record<string, string> = { '3': 'invalid_argument', '13': 'internal' };

/** A gRPC length-prefixed message, uncompressed. */
function frame(message: Uint8Array, flags = 0): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt8(flags, 0);
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, message]);
}

/** Connect unary POST (binary or JSON). */
async function connectPost(path: string, body: Uint8Array | string, json = false) {
  const res = await fetch(`${gate.url}${path}`, {
    method: 'POST',
    headers: {
      'content-type': json ? 'application/json' : 'application/proto',
      'connect-protocol-version': '1',
    },
    body,
  });
  const error = (await res.json()) as { code: string; message: string };
  return { status: res.status, code: error.code, message: error.message };
}

/** Connect unary GET with the message in the query, as base64 (`raw` is sent as is). */
async function connectGet(path: string, raw: string): Promise<Answer> {
  const query = new URLSearchParams({ connect: 'v1', encoding: 'proto', base64: '1' });
  const res = await fetch(`${gate.url}${path}?${query.toString()}&message=${raw}`);
  const error = (await res.json()) as { code: string; message: string };
  return { status: res.status, code: error.code, message: error.message };
}

/** Connect server-streaming POST: the error is in the end-of-stream frame. */
async function connectStream(path: string, message: Uint8Array): Promise<Answer> {
  const res = await fetch(`${gate.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/connect+proto', 'connect-protocol-version': '1' },
    body: frame(message),
  });
  const end = envelopes(Buffer.from(await res.arrayBuffer())).find((f) => f.flags & 0x02);
  const { error } = JSON.parse(end?.data.toString() ?? '{}') as {
    error: { code: string; message: string };
  };
  return { status: res.status, code: error.code, message: error.message };
}

/** gRPC over cleartext HTTP/2 with a hand-built frame. */
async function grpc(path: string, message: Uint8Array): Promise<Answer> {
  const session = http2.connect(gate.url);
  try {
    return await new Promise<Answer>((resolve, reject) => {
      const stream = session.request({
        ':method': 'POST',
        ':path': path,
        'content-type': 'application/grpc+proto',
        te: 'trailers',
      });
      let status: string | undefined;
      let text = '';
      const read = (h: http2.IncomingHttpHeaders) => {
        if (h['grpc-status'] !== undefined) status = String(h['grpc-status']);
        if (h['grpc-message'] !== undefined) text = decodeURIComponent(String(h['grpc-message']));
      };
      stream.on('response', read);
      stream.on('trailers', read);
      stream.on('data', () => undefined);
      stream.on('error', reject);
      stream.on('close', () => {
        resolve({ code: grpcCodeNames[status ?? ''] ?? `grpc-status ${status}`, message: text });
      });
      stream.end(frame(message));
    });
  } finally {
    session.close();
  }
}

/** gRPC-Web over HTTP/1.1: the status is in a trailer frame (or the headers). */
async function grpcWeb(path: string, message: Uint8Array): Promise<Answer> {
  const res = await fetch(`${gate.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/grpc-web+proto', 'x-grpc-web': '1' },
    body: frame(message),
  });
  const fields = new Map(res.headers);
  const trailer = envelopes(Buffer.from(await res.arrayBuffer())).find((f) => f.flags & 0x80);
  for (const line of trailer?.data.toString().split('\r\n') ?? []) {
    const colon = line.indexOf(':');
    if (colon > 0)
      fields.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  const status = fields.get('grpc-status') ?? '';
  return {
    status: res.status,
    code: grpcCodeNames[status] ?? `grpc-status ${status}`,
    message: decodeURIComponent(fields.get('grpc-message') ?? ''),
  };
}

/** The value of one sample on the gate's metrics page now; 0 when absent. */
async function gateSample(name: string, labels: Record<string, string>): Promise<number> {
  return sample(await (await fetch(`${gate.opsUrl}/metrics`)).text(), name, labels);
}

/** The caller's error: invalid_argument, and a message with nothing of the server's insides. */
function expectCallersError(answer: Answer, httpStatus?: number) {
  expect(answer.code).toBe('invalid_argument');
  expect(answer.message).toMatch(/^parse binary: |base64|from JSON/);
  if (httpStatus !== undefined) expect(answer.status).toBe(httpStatus);
  expect(answer.message).not.toMatch(/\bat\s|node_modules|\.[cm]?js\b|\/\w+\/|\n/);
  expect(answer.message.length).toBeLessThan(200);
}

beforeAll(async () => {
  gate = await startGate(config);
  await loadTestSale(redis, keys, testSale('WIRE-1'));
  before = await redisSnapshot(redis, config.redisKeyPrefix);
});

afterAll(async () => {
  await gate.close();
  redis.disconnect();
});

describe.each(malformed)('a request message with %s', (_, message) => {
  test('Connect (binary POST) answers invalid_argument, HTTP 400', async () => {
    expectCallersError(await connectPost(placeOrder, message), 400);
  });

  test('Connect (GET, base64) answers invalid_argument, HTTP 400', async () => {
    expectCallersError(await connectGet(getOrder, Buffer.from(message).toString('base64url')), 400);
  });

  test('Connect (server stream) answers invalid_argument', async () => {
    expectCallersError(await connectStream(watchOrder, message));
  });

  test('gRPC (HTTP/2) answers grpc-status 3', async () => {
    expectCallersError(await grpc(placeOrder, message));
  });

  test('gRPC-Web answers grpc-status 3', async () => {
    expectCallersError(await grpcWeb(placeOrder, message));
  });
});

describe('other undecodable requests', () => {
  test.each([
    ['a character outside the alphabet', '!!!!'],
    ['a lone trailing character', 'CgVBQ'],
  ])('Connect GET with broken base64 (%s) answers invalid_argument, HTTP 400', async (_, raw) => {
    expectCallersError(await connectGet(getOrder, raw), 400);
  });

  test.each([
    ['not JSON', '{"sku": '],
    ['a string where a number belongs', '{"sku":"WIRE-1","quantity":"many"}'],
  ])('Connect JSON with %s answers invalid_argument, HTTP 400', async (_, body) => {
    expectCallersError(await connectPost(placeOrder, body, true), 400);
  });
});

describe('afterwards', () => {
  test('Redis is unchanged', async () => {
    expect(await redisSnapshot(redis, config.redisKeyPrefix)).toEqual(before);
  });

  test('the gate counted them by protocol, apart from the RPCs it answered', async () => {
    const counted = (protocol: string) =>
      gateSample('fluxgate_gate_malformed_requests_total', { protocol });
    // Per malformed message: POST, GET and stream on Connect; plus 2 broken base64, 2 bad JSON.
    expect(await counted('connect')).toBe(malformed.length * 3 + 4);
    expect(await counted('grpc')).toBe(malformed.length);
    expect(await counted('grpc-web')).toBe(malformed.length);
    expect(
      await gateSample('fluxgate_gate_requests_total', { rpc: 'OrderGateService.PlaceOrder' }),
    ).toBe(0);
  });
});
