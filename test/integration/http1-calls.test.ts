/**
 * A backend's unary Connect and gRPC-Web calls over HTTP/1.1 are served straight from their
 * request (src/gate/http1-calls.ts); a browser's (it names its origin), GETs, streams and unknown
 * paths go through Fastify. This file checks which path each request takes, and that both answer
 * byte for byte alike: successes, errors with details and metadata, bodies that do not decode,
 * oversized bodies with and without a length, a passed deadline. The protocol, client, overload
 * and security suites run their HTTP/1.1 Connect and gRPC-Web cases through the direct path too.
 */
import { create, toBinary } from '@bufbuild/protobuf';
import { Code, ConnectError, createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import type { FastifyInstance } from 'fastify';
import http from 'node:http';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { WaitingRoomTicketSchema } from '../../gen/fluxgate/v1/errors_pb.js';
import { InventoryService, WatchStockResponseSchema } from '../../gen/fluxgate/v1/inventory_pb.js';
import { OrderGateService, PlaceOrderRequestSchema } from '../../gen/fluxgate/v1/order_gate_pb.js';
import { loadConfig } from '../../src/config.js';
import { buildServer } from '../../src/gate/build-server.js';
import { requestIdKey } from '../../src/gate/request-id.js';

const maxMessageBytes = 4096;
const config = loadConfig({}, { gatePort: 0, gateOpsPort: 0, maxMessageBytes });
const placeOrderPath = '/fluxgate.v1.OrderGateService/PlaceOrder';
/** An origin the gate does not allow: Fastify serves its calls, without CORS headers. */
const browserOrigin = 'http://elsewhere.example';

/** What came back for one request. */
interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** A gRPC-Web request body: one message frame. */
function grpcWebFrame(message: Uint8Array): Buffer {
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, 5);
  return frame;
}

const orderBytes = (sku: string) =>
  toBinary(PlaceOrderRequestSchema, create(PlaceOrderRequestSchema, { sku }));

describe('unary Connect and gRPC-Web calls straight from the HTTP/1.1 request', () => {
  let app: FastifyInstance;
  let url: URL;
  /** Requests Fastify saw, by path. */
  const throughFastify: string[] = [];
  /** What the handler saw of each call. */
  const seen: { requestId?: string; signal?: AbortSignal }[] = [];
  /** Log lines at info. */
  const lines: Record<string, unknown>[] = [];

  beforeAll(async () => {
    const logger = pino(
      { level: 'info' },
      new Writable({
        write(chunk: Buffer, _, done) {
          lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
          done();
        },
      }),
    );
    app = await buildServer({
      config,
      logger,
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
            if (req.sku === 'slow') await new Promise((r) => setTimeout(r, 300));
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
    app.addHook('onRequest', (request, _reply, done) => {
      throughFastify.push(request.url);
      done();
    });
    url = new URL(await app.listen({ host: '127.0.0.1', port: 0 }));
  });
  afterAll(() => app.close());

  /** Sends one request on a connection of its own; `chunked`: without a content-length. */
  function send(
    headers: Record<string, string>,
    body: Uint8Array | string,
    options: { method?: string; path?: string; chunked?: boolean } = {},
  ): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          host: url.hostname,
          port: url.port,
          method: options.method ?? 'POST',
          path: options.path ?? placeOrderPath,
          headers:
            options.chunked === true
              ? headers
              : { ...headers, 'content-length': String(Buffer.byteLength(body)) },
          agent: false,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: Buffer.concat(chunks),
            }),
          );
        },
      );
      req.on('error', reject);
      if (options.chunked === true) void sendInPieces(req, Buffer.from(body));
      else req.end(body);
    });
  }

  /**
   * Writes `bytes` in pieces a few milliseconds apart: the server reads them as they come, their
   * length unknown to it. Three pieces take 2 bytes more than the message limit: a gRPC-Web body
   * of the largest message (the limit and a 5-byte frame header) has 3 bytes still to come then.
   */
  const pieceBytes = (maxMessageBytes + 2) / 3;
  async function sendInPieces(req: http.ClientRequest, bytes: Buffer) {
    for (let at = 0; at < bytes.length; at += pieceBytes) {
      req.write(bytes.subarray(at, at + pieceBytes));
      await new Promise((r) => setTimeout(r, 3));
    }
    req.end();
  }

  /**
   * The parts of an answer both paths must give alike: all but the connection's own headers and
   * the CORS headers Fastify adds for a browser's call.
   */
  const comparable = (a: Answer) => {
    const skipped =
      /^(date|connection|keep-alive|content-length|transfer-encoding|access-control-.*)$/;
    const headers = Object.fromEntries(
      Object.entries(a.headers).filter(([name]) => !skipped.test(name)),
    );
    return { status: a.status, headers, body: a.body.toString('base64') };
  };

  const json = { 'content-type': 'application/json' };
  const proto = { 'content-type': 'application/proto' };
  const grpcWeb = { 'content-type': 'application/grpc-web+proto' };
  const big = 'x'.repeat(maxMessageBytes + 100);
  // A PlaceOrderRequest of exactly the limit: a tag byte, two length bytes, the SKU.
  const largest = 'y'.repeat(maxMessageBytes - 3);
  const requests: [string, Record<string, string>, Uint8Array | string, boolean?][] = [
    ['Connect JSON, an order', json, JSON.stringify({ sku: 'a' })],
    ['Connect JSON, an error with details and metadata', json, JSON.stringify({ sku: 'refuse' })],
    ['Connect JSON, a body that does not parse', json, '{"sku": '],
    ['Connect JSON, an unknown field', json, JSON.stringify({ sku: 'a', colour: 'red' })],
    ['Connect JSON, too large, with its length', json, JSON.stringify({ sku: big })],
    ['Connect JSON, too large, chunked', json, JSON.stringify({ sku: big }), true],
    ['Connect JSON, chunked', json, JSON.stringify({ sku: 'c' }), true],
    ['Connect proto, an order', proto, orderBytes('a')],
    ['Connect proto, bytes that do not decode', proto, new Uint8Array([0xff, 0xff, 0xff])],
    ['Connect, a passed deadline', { ...json, 'connect-timeout-ms': '0' }, '{"sku":"a"}'],
    ['Connect, a deadline that does not parse', { ...json, 'connect-timeout-ms': 'x' }, '{}'],
    ['Connect, an unknown compression', { ...json, 'content-encoding': 'zstd' }, '{}'],
    ['gRPC-Web, an order', grpcWeb, grpcWebFrame(orderBytes('a'))],
    ['gRPC-Web, an error', grpcWeb, grpcWebFrame(orderBytes('refuse'))],
    ['gRPC-Web, an incomplete frame', grpcWeb, grpcWebFrame(orderBytes('a')).subarray(0, 7)],
    ['gRPC-Web, too large, chunked', grpcWeb, grpcWebFrame(orderBytes(big)), true],
    ['gRPC-Web, the largest message, chunked', grpcWeb, grpcWebFrame(orderBytes(largest)), true],
    ['Connect proto, the largest message, chunked', proto, orderBytes(largest), true],
  ];

  test.each(requests)(
    '%s: answered directly as Fastify answers it',
    async (_, headers, body, chunked) => {
      throughFastify.length = 0;
      const direct = await send(headers, body, { chunked });
      expect(throughFastify).toEqual([]);
      const viaFastify = await send({ ...headers, origin: browserOrigin }, body, { chunked });
      expect(throughFastify).toEqual([placeOrderPath]);
      expect(comparable(direct)).toEqual(comparable(viaFastify));
      // Answered in one piece, its length given.
      expect(direct.headers['content-length']).toBe(String(direct.body.length));
    },
  );

  test('an answer carries the handler’s headers, and an error its details and metadata', async () => {
    const client = createClient(
      OrderGateService,
      createConnectTransport({ baseUrl: url.href, httpVersion: '1.1' }),
    );
    let header: Headers | undefined;
    let trailer: Headers | undefined;
    throughFastify.length = 0;
    await client.placeOrder(
      { sku: 'a' },
      { onHeader: (h) => (header = h), onTrailer: (h) => (trailer = h) },
    );
    expect(header?.get('x-head')).toBe('h');
    expect(trailer?.get('x-tail')).toBe('t');
    const error = await client.placeOrder({ sku: 'refuse' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectError);
    const e = error as ConnectError;
    expect(e.code).toBe(Code.ResourceExhausted);
    expect(e.metadata.get('retry-after')).toBe('1');
    expect(e.findDetails(WaitingRoomTicketSchema)).toMatchObject([{ ticketId: 't-7' }]);
    expect(throughFastify).toEqual([]);
  });

  test('a browser’s call, a GET, a stream and an unknown path go through Fastify', async () => {
    throughFastify.length = 0;
    const body = JSON.stringify({ sku: 'a' });
    const allowed = await send({ ...json, origin: browserOrigin }, body);
    expect(allowed.status).toBe(200);
    const message = encodeURIComponent(body);
    const get = await send({}, '', {
      method: 'GET',
      path: `${placeOrderPath}?connect=v1&encoding=json&message=${message}`,
    });
    // PlaceOrder has side effects: connect-es refuses a GET of it, and Fastify took it there.
    expect(get.status).toBe(405);
    const stream = await send(
      { 'content-type': 'application/connect+json' },
      grpcWebFrame(new TextEncoder().encode(JSON.stringify({ sku: 'a' }))),
      { path: '/fluxgate.v1.InventoryService/WatchStock' },
    );
    expect(stream.status).toBe(200);
    const unknown = await send(json, '{}', { path: '/fluxgate.v1.OrderGateService/Nothing' });
    expect(unknown.status).toBe(404);
    expect(throughFastify).toEqual([
      placeOrderPath,
      `${placeOrderPath}?connect=v1&encoding=json&message=${message}`,
      '/fluxgate.v1.InventoryService/WatchStock',
      '/fluxgate.v1.OrderGateService/Nothing',
    ]);
  });

  test('the caller’s x-request-id reaches the handler and the access log; a new one otherwise', async () => {
    seen.length = 0;
    lines.length = 0;
    await send({ ...json, 'x-request-id': 'req-h1' }, '{"sku":"a"}');
    await send(json, '{"sku":"a"}');
    expect(seen[0]?.requestId).toBe('req-h1');
    expect(seen[1]?.requestId).toMatch(/^[0-9a-f-]{36}$/);
    const access = lines.filter((l) => l.reqId === 'req-h1');
    expect(access.map((l) => l.msg)).toEqual(['incoming request', 'request completed']);
    expect(access[0]).toMatchObject({ req: { method: 'POST', url: placeOrderPath } });
    expect(access[1]).toMatchObject({ res: { statusCode: 200 } });
  });

  test('a client that goes away: the handler’s signal aborts, and the server serves on', async () => {
    seen.length = 0;
    const req = http.request({
      host: url.hostname,
      port: url.port,
      method: 'POST',
      path: placeOrderPath,
      headers: json,
      agent: false,
    });
    req.on('error', () => undefined);
    req.end('{"sku":"hang"}');
    await expect.poll(() => seen.length).toBe(1);
    req.destroy();
    await expect.poll(() => seen[0]?.signal?.aborted).toBe(true);
    expect(seen[0]?.signal?.reason).toMatchObject({ code: Code.Aborted });
    expect((await send(json, '{"sku":"b"}')).body.toString()).toBe('{"orderId":"o-b"}');
  });
});

test('a graceful close lets a running HTTP/1.1 Connect call finish', async () => {
  const app = await buildServer({
    config,
    logger: pino({ level: 'silent' }),
    routes: (router) => {
      router.service(OrderGateService, {
        async placeOrder() {
          await new Promise((r) => setTimeout(r, 300));
          return { orderId: 'done' };
        },
      });
    },
  });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  const client = createClient(
    OrderGateService,
    createConnectTransport({ baseUrl: url, httpVersion: '1.1' }),
  );
  const call = client.placeOrder({ sku: 'a' });
  await new Promise((r) => setTimeout(r, 100));
  await Promise.all([app.close(), expect(call).resolves.toMatchObject({ orderId: 'done' })]);
});
