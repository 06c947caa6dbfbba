/**
 * What the direct-path suites (test/integration/http1-calls.test.ts, http2-calls.test.ts) share:
 * a gate server whose handlers record what they saw, and the requests each suite sends both
 * directly and, naming a browser's origin, through Fastify, to compare the answers.
 */
import { create, toBinary } from '@bufbuild/protobuf';
import { Code, ConnectError } from '@connectrpc/connect';
import type { FastifyInstance } from 'fastify';
import type http from 'node:http';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { expect } from 'vitest';
import { WaitingRoomTicketSchema } from '../../gen/fluxgate/v1/errors_pb.js';
import { InventoryService, WatchStockResponseSchema } from '../../gen/fluxgate/v1/inventory_pb.js';
import { OrderGateService, PlaceOrderRequestSchema } from '../../gen/fluxgate/v1/order_gate_pb.js';
import { loadConfig } from '../../src/config.js';
import { buildServer } from '../../src/gate/build-server.js';
import { requestIdKey } from '../../src/gate/request-id.js';
import { cachedShedAnswers } from '../../src/gate/shedding.js';

export const maxMessageBytes = 4096;
export const config = loadConfig({}, { gatePort: 0, gateOpsPort: 0, maxMessageBytes });
export const placeOrderPath = '/fluxgate.v1.OrderGateService/PlaceOrder';
/** An origin the gate does not allow: Fastify serves its calls, without CORS headers. */
export const browserOrigin = 'http://elsewhere.example';

/** A gate serving PlaceOrder and WatchStock, and what it saw. */
export interface TestGate {
  app: FastifyInstance;
  url: string;
  /** Requests Fastify saw, by path. */
  throughFastify: string[];
  /** What the handler saw of each call. */
  seen: { requestId?: string; signal?: AbortSignal }[];
  /** Log lines at info. */
  lines: Record<string, unknown>[];
  /** Whether PlaceOrder calls are shed (refused `unavailable` before they are read). */
  shedding: { on: boolean };
}

/**
 * Starts a gate whose PlaceOrder answers `o-<sku>` with a response header and trailer, and by
 * SKU: `refuse` an error with details and metadata, `hang` once its signal aborts.
 */
export async function startTestGate(): Promise<TestGate> {
  const shedding = { on: false };
  const shedAnswers = cachedShedAnswers(
    () => new ConnectError('over capacity', Code.Unavailable, { 'retry-after': '1' }),
  );
  const throughFastify: string[] = [];
  const seen: TestGate['seen'] = [];
  const lines: Record<string, unknown>[] = [];
  const logger = pino(
    { level: 'info' },
    new Writable({
      write(chunk: Buffer, _, done) {
        lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        done();
      },
    }),
  );
  const app = await buildServer({
    config,
    logger,
    shedding: {
      paths: new Set([placeOrderPath]),
      refusal: (contentType) => (shedding.on ? shedAnswers(contentType) : undefined),
    },
    routes: (router) => {
      router.service(OrderGateService, {
        async placeOrder(req, context) {
          seen.push({ requestId: context.values.get(requestIdKey), signal: context.signal });
          if (req.sku === 'refuse') {
            throw new ConnectError('not now', Code.ResourceExhausted, { 'retry-after': '1' }, [
              { desc: WaitingRoomTicketSchema, value: { sku: 'refuse', ticketId: 't-7' } },
            ]);
          }
          if (req.sku === 'hang') {
            await new Promise((r) => context.signal.addEventListener('abort', r));
          }
          context.responseHeader.set('x-head', 'h');
          context.responseTrailer.set('x-tail', 't');
          return { orderId: `o-${req.sku}` };
        },
      });
      router.service(InventoryService, {
        async *watchStock(req) {
          yield create(WatchStockResponseSchema, { stock: { sku: req.sku, unitsLeft: 3n } });
        },
      });
    },
  });
  const recorded = new WeakSet<object>();
  const record = (request: { url: string }) => {
    if (recorded.has(request)) return;
    recorded.add(request);
    throughFastify.push(request.url);
  };
  app.addHook('onRequest', (request, _reply, done) => {
    record(request);
    done();
  });
  // A reply sent by an earlier hook (a shed call's) ends the onRequest chain before the one above.
  app.addHook('onSend', (request, _reply, payload, done) => {
    record(request);
    done(null, payload);
  });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return { app, url, throughFastify, seen, lines, shedding };
}

/** What came back for one request. */
export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/**
 * The parts of an answer both paths must give alike: all but the connection's own headers,
 * HTTP/2's pseudo-headers and the CORS headers Fastify adds for a browser's call.
 */
export function comparable(a: Answer) {
  const skipped =
    /^(:.*|date|connection|keep-alive|content-length|transfer-encoding|access-control-.*)$/;
  const headers = Object.fromEntries(
    Object.entries(a.headers).filter(([name]) => !skipped.test(name)),
  );
  return { status: a.status, headers, body: a.body.toString('base64') };
}

/** Sends one PlaceOrder request; `inPieces`: without a length, as {@link sendInPieces} does. */
export type Send = (
  headers: Record<string, string>,
  body: Uint8Array | string,
  inPieces: boolean,
) => Promise<Answer>;

/**
 * Sends a request as it is, then naming a browser's origin; checks that the first was served
 * directly and the second through Fastify, and that both were answered alike. Returns the
 * direct answer.
 */
export async function expectAnsweredAlike(
  gate: TestGate,
  send: Send,
  [, headers, body, inPieces = false]: (typeof answerCases)[number],
): Promise<Answer> {
  gate.throughFastify.length = 0;
  const direct = await send(headers, body, inPieces);
  expect(gate.throughFastify).toEqual([]);
  const viaFastify = await send({ ...headers, origin: browserOrigin }, body, inPieces);
  expect(gate.throughFastify).toEqual([placeOrderPath]);
  expect(comparable(direct)).toEqual(comparable(viaFastify));
  return direct;
}

/** A gRPC-Web request body: one message frame. */
export function grpcWebFrame(message: Uint8Array): Buffer {
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, 5);
  return frame;
}

const orderBytes = (sku: string) =>
  toBinary(PlaceOrderRequestSchema, create(PlaceOrderRequestSchema, { sku }));

/**
 * Writes `bytes` in pieces a few milliseconds apart: the server reads them as they come, their
 * length unknown to it. Three pieces take 2 bytes more than the message limit: a gRPC-Web body
 * of the largest message (the limit and a 5-byte frame header) has 3 bytes still to come then.
 */
export async function sendInPieces(to: NodeJS.WritableStream, bytes: Buffer): Promise<void> {
  const pieceBytes = (maxMessageBytes + 2) / 3;
  for (let at = 0; at < bytes.length; at += pieceBytes) {
    to.write(bytes.subarray(at, at + pieceBytes));
    await new Promise((r) => setTimeout(r, 3));
  }
  to.end();
}

const json = { 'content-type': 'application/json' };
const proto = { 'content-type': 'application/proto' };
const grpcWeb = { 'content-type': 'application/grpc-web+proto' };
const big = 'x'.repeat(maxMessageBytes + 100);
// A PlaceOrderRequest of exactly the limit: a tag byte, two length bytes, the SKU.
const largest = 'y'.repeat(maxMessageBytes - 3);

/**
 * Unary PlaceOrder requests, each: a name, its headers, its body, and whether it is sent in
 * pieces without a length.
 */
export const answerCases: [string, Record<string, string>, Uint8Array | string, boolean?][] = [
  ['Connect JSON, an order', json, JSON.stringify({ sku: 'a' })],
  ['Connect JSON, an error with details and metadata', json, JSON.stringify({ sku: 'refuse' })],
  ['Connect JSON, a body that does not parse', json, '{"sku": '],
  ['Connect JSON, an unknown field', json, JSON.stringify({ sku: 'a', colour: 'red' })],
  ['Connect JSON, too large, with its length', json, JSON.stringify({ sku: big })],
  ['Connect JSON, too large, in pieces', json, JSON.stringify({ sku: big }), true],
  ['Connect JSON, in pieces', json, JSON.stringify({ sku: 'c' }), true],
  ['Connect JSON, an empty body', json, ''],
  ['Connect proto, an order', proto, orderBytes('a')],
  ['Connect proto, bytes that do not decode', proto, new Uint8Array([0xff, 0xff, 0xff])],
  ['Connect proto, the largest message, in pieces', proto, orderBytes(largest), true],
  ['Connect, a passed deadline', { ...json, 'connect-timeout-ms': '0' }, '{"sku":"a"}'],
  ['Connect, a deadline that does not parse', { ...json, 'connect-timeout-ms': 'x' }, '{}'],
  ['Connect, an unknown compression', { ...json, 'content-encoding': 'zstd' }, '{}'],
  ['gRPC-Web, an order', grpcWeb, grpcWebFrame(orderBytes('a'))],
  ['gRPC-Web, an error', grpcWeb, grpcWebFrame(orderBytes('refuse'))],
  ['gRPC-Web, an empty body', grpcWeb, ''],
  ['gRPC-Web, an incomplete frame', grpcWeb, grpcWebFrame(orderBytes('a')).subarray(0, 7)],
  ['gRPC-Web, too large, in pieces', grpcWeb, grpcWebFrame(orderBytes(big)), true],
  ['gRPC-Web, the largest message, in pieces', grpcWeb, grpcWebFrame(orderBytes(largest)), true],
];

/** An order in each protocol a direct path takes besides gRPC. */
export const orderCases = answerCases.filter(([name]) => name.endsWith(', an order'));
