/**
 * A backend's unary Connect and gRPC-Web calls over HTTP/1.1 are served straight from their
 * request (src/gate/http1-calls.ts); a browser's (it names its origin), GETs, streams and unknown
 * paths go through Fastify. This file checks which path each request takes, and that both answer
 * byte for byte alike: successes, errors with details and metadata, bodies that do not decode,
 * oversized bodies with and without a length, a passed deadline. The protocol, client, overload
 * and security suites run their HTTP/1.1 Connect and gRPC-Web cases through the direct path too.
 */
import { Code, ConnectError, createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import http from 'node:http';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { WaitingRoomTicketSchema } from '../../gen/fluxgate/v1/errors_pb.js';
import { OrderGateService } from '../../gen/fluxgate/v1/order_gate_pb.js';
import { buildServer } from '../../src/gate/build-server.js';
import {
  answerCases,
  browserOrigin,
  expectAnsweredAlike,
  orderCases,
  config,
  grpcWebFrame,
  placeOrderPath,
  sendInPieces,
  startTestGate,
  type Answer,
  type TestGate,
} from '../support/direct-calls.js';

describe('unary Connect and gRPC-Web calls straight from the HTTP/1.1 request', () => {
  let gate: TestGate;
  let url: URL;
  beforeAll(async () => {
    gate = await startTestGate();
    url = new URL(gate.url);
  });
  afterAll(() => gate.app.close());
  const json = { 'content-type': 'application/json' };

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

  test.each(answerCases)('%s: answered directly as Fastify answers it', async (...request) => {
    const direct = await expectAnsweredAlike(
      gate,
      (h, b, p) => send(h, b, { chunked: p }),
      request,
    );
    // Answered in one piece, its length given.
    expect(direct.headers['content-length']).toBe(String(direct.body.length));
  });

  test.each(orderCases)('%s, shed: answered directly as Fastify answers it', async (...request) => {
    gate.shedding.on = true;
    try {
      const direct = await expectAnsweredAlike(
        gate,
        (h, b, p) => send(h, b, { chunked: p }),
        request,
      );
      expect(direct.status === 503 || direct.headers['grpc-status'] === '14').toBe(true);
      expect(direct.headers['retry-after']).toBe('1');
    } finally {
      gate.shedding.on = false;
    }
  });

  test('an answer carries the handler’s headers, and an error its details and metadata', async () => {
    const client = createClient(
      OrderGateService,
      createConnectTransport({ baseUrl: url.href, httpVersion: '1.1' }),
    );
    let header: Headers | undefined;
    let trailer: Headers | undefined;
    gate.throughFastify.length = 0;
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
    expect(gate.throughFastify).toEqual([]);
  });

  test('a browser’s call, a GET, a stream and an unknown path go through Fastify', async () => {
    gate.throughFastify.length = 0;
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
    expect(gate.throughFastify).toEqual([
      placeOrderPath,
      `${placeOrderPath}?connect=v1&encoding=json&message=${message}`,
      '/fluxgate.v1.InventoryService/WatchStock',
      '/fluxgate.v1.OrderGateService/Nothing',
    ]);
  });

  test('the caller’s x-request-id reaches the handler and the access log; a new one otherwise', async () => {
    gate.seen.length = 0;
    gate.lines.length = 0;
    await send({ ...json, 'x-request-id': 'req-h1' }, '{"sku":"a"}');
    await send(json, '{"sku":"a"}');
    expect(gate.seen[0]?.requestId).toBe('req-h1');
    expect(gate.seen[1]?.requestId).toMatch(/^[0-9a-f-]{36}$/);
    const access = gate.lines.filter((l) => l.reqId === 'req-h1');
    expect(access.map((l) => l.msg)).toEqual(['incoming request', 'request completed']);
    expect(access[0]).toMatchObject({ req: { method: 'POST', url: placeOrderPath } });
    expect(access[1]).toMatchObject({ res: { statusCode: 200 } });
  });

  test('a client that goes away: the handler’s signal aborts, and the server serves on', async () => {
    gate.seen.length = 0;
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
    await expect.poll(() => gate.seen.length).toBe(1);
    req.destroy();
    await expect.poll(() => gate.seen[0]?.signal?.aborted).toBe(true);
    expect(gate.seen[0]?.signal?.reason).toMatchObject({ code: Code.Aborted });
    expect((await send(json, '{"sku":"b"}')).body.toString()).toBe('{"orderId":"o-b"}');
  });
});

test('a graceful close lets a running HTTP/1.1 Connect call finish, then closes its connection', async () => {
  const app = await buildServer({
    // Neither the connection's keep-alive timeout nor the grace period ends this test's close.
    config: { ...config, http1KeepAliveTimeoutMs: 600_000, shutdownGraceMs: 600_000 },
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
  // A client that keeps its idle connections open (Node's default agent drops them after 5 s).
  const agent = new http.Agent({ keepAlive: true });
  const client = createClient(
    OrderGateService,
    createConnectTransport({ baseUrl: url, httpVersion: '1.1', nodeOptions: { agent } }),
  );
  const call = client.placeOrder({ sku: 'a' });
  await new Promise((r) => setTimeout(r, 100));
  await Promise.all([app.close(), expect(call).resolves.toMatchObject({ orderId: 'done' })]);
  agent.destroy();
});
