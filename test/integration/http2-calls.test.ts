/**
 * Unary calls over HTTP/2 are served straight from their stream (src/gate/http2-calls.ts):
 * gRPC's, and a backend's Connect and gRPC-Web calls; a browser's (it names its origin), streams
 * and GETs go through Fastify. This file checks which path each call takes, and that the direct
 * path answers as the Fastify one does (errors and their details, headers, trailers, request ids,
 * access logs, cancellation, a graceful close). The protocol, client and security suites run
 * every gRPC case of theirs through it too.
 */
import { create, toBinary } from '@bufbuild/protobuf';
import {
  Code,
  ConnectError,
  createClient,
  type Interceptor,
  type Transport,
} from '@connectrpc/connect';
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from '@connectrpc/connect-node';
import http2 from 'node:http2';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { WaitingRoomTicketSchema } from '../../gen/fluxgate/v1/errors_pb.js';
import { InventoryService } from '../../gen/fluxgate/v1/inventory_pb.js';
import { OrderGateService, PlaceOrderRequestSchema } from '../../gen/fluxgate/v1/order_gate_pb.js';
import { buildServer } from '../../src/gate/build-server.js';
import {
  answerCases,
  browserOrigin,
  expectAnsweredAlike,
  orderCases,
  config,
  placeOrderPath,
  sendInPieces,
  startTestGate,
  type Answer,
  type TestGate,
} from '../support/direct-calls.js';

describe('unary calls straight from the HTTP/2 stream', () => {
  let gate: TestGate;
  let url: string;
  beforeAll(async () => {
    gate = await startTestGate();
    url = gate.url;
  });
  afterAll(() => gate.app.close());

  /** Adds `headers` to every call. */
  const withHeaders =
    (headers: Record<string, string>): Interceptor =>
    (next) =>
    (req) => {
      for (const [name, value] of Object.entries(headers)) req.header.set(name, value);
      return next(req);
    };
  const grpc = (): Transport => createGrpcTransport({ baseUrl: url });
  const grpcWeb = (): Transport => createGrpcWebTransport({ baseUrl: url, httpVersion: '2' });
  const connect = (): Transport => createConnectTransport({ baseUrl: url, httpVersion: '2' });
  const browserGrpcWeb = (): Transport =>
    createGrpcWebTransport({
      baseUrl: url,
      httpVersion: '2',
      interceptors: [withHeaders({ origin: browserOrigin })],
    });

  test('unary gRPC, Connect and gRPC-Web calls do not go through Fastify; a browser’s call and a stream do', async () => {
    gate.throughFastify.length = 0;
    for (const transport of [grpc, connect, grpcWeb]) {
      const { orderId } = await createClient(OrderGateService, transport()).placeOrder({
        sku: 'a',
      });
      expect(orderId).toBe('o-a');
    }
    expect(gate.throughFastify).toEqual([]);
    await createClient(OrderGateService, browserGrpcWeb()).placeOrder({ sku: 'a' });
    expect(gate.throughFastify).toEqual([placeOrderPath]);
    const updates = [];
    for await (const u of createClient(InventoryService, grpc()).watchStock({ sku: 'a' })) {
      updates.push(u.stock?.unitsLeft);
    }
    expect(updates).toEqual([3n]);
    expect(gate.throughFastify).toEqual([
      placeOrderPath,
      '/fluxgate.v1.InventoryService/WatchStock',
    ]);
  });

  test.each([
    ['gRPC, direct', grpc],
    ['Connect, direct', connect],
    ['gRPC-Web, direct', grpcWeb],
    ['gRPC-Web, a browser’s, through Fastify', browserGrpcWeb],
  ])('%s: headers, trailers, and an error with its details and metadata', async (_, t) => {
    const client = createClient(OrderGateService, t());
    let header: Headers | undefined;
    let trailer: Headers | undefined;
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
    expect(e.rawMessage).toBe('not now');
    expect(e.metadata.get('retry-after')).toBe('1');
    expect(e.findDetails(WaitingRoomTicketSchema)).toMatchObject([
      { sku: 'refuse', ticketId: 't-7' },
    ]);
  });

  test('an error answered directly is Trailers-Only: status and details in one HEADERS frame', async () => {
    const session = http2.connect(url);
    try {
      const answer = await new Promise<{
        headers: http2.IncomingHttpHeaders;
        trailers: boolean;
        endStream: boolean;
      }>((resolve, reject) => {
        const stream = session.request({
          ':method': 'POST',
          ':path': placeOrderPath,
          'content-type': 'application/grpc',
          te: 'trailers',
        });
        let headers: http2.IncomingHttpHeaders = {};
        let trailers = false;
        let endStream = false;
        stream.on('response', (h, flags) => {
          headers = h;
          // The END_STREAM flag on the response's HEADERS frame: nothing follows it.
          endStream = (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0;
        });
        stream.on('trailers', () => (trailers = true));
        stream.on('data', () => reject(new Error('an error answer has no message')));
        stream.on('end', () => resolve({ headers, trailers, endStream }));
        stream.on('error', reject);
        const message = toBinary(
          PlaceOrderRequestSchema,
          create(PlaceOrderRequestSchema, { sku: 'refuse' }),
        );
        const frame = new Uint8Array(5 + message.length);
        new DataView(frame.buffer).setUint32(1, message.length);
        frame.set(message, 5);
        stream.end(frame);
      });
      expect(answer).toMatchObject({ trailers: false, endStream: true });
      expect(answer.headers).toMatchObject({
        ':status': 200,
        'content-type': 'application/grpc+proto',
        'grpc-status': String(Code.ResourceExhausted),
        'grpc-message': 'not%20now',
        'retry-after': '1',
      });
      expect(answer.headers['grpc-status-details-bin']).toBeTypeOf('string');
    } finally {
      session.close();
    }
  });

  /** Sends one request on a session of its own; `inPieces`: without a content-length. */
  async function send(
    headers: Record<string, string>,
    body: Uint8Array | string,
    inPieces = false,
  ): Promise<Answer> {
    const session = http2.connect(url);
    try {
      return await new Promise<Answer>((resolve, reject) => {
        const bytes = Buffer.from(body);
        // An empty body: the request's HEADERS frame ends the stream.
        const stream = session.request(
          {
            ':method': 'POST',
            ':path': placeOrderPath,
            ...headers,
            ...(inPieces ? {} : { 'content-length': String(bytes.length) }),
          },
          { endStream: bytes.length === 0 },
        );
        let head: http2.IncomingHttpHeaders = {};
        const chunks: Buffer[] = [];
        stream.on('response', (h) => (head = h));
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () =>
          resolve({ status: Number(head[':status']), headers: head, body: Buffer.concat(chunks) }),
        );
        stream.on('error', reject);
        if (inPieces) void sendInPieces(stream, bytes);
        else if (bytes.length > 0) stream.end(bytes);
      });
    } finally {
      session.close();
    }
  }

  test.each(answerCases)('%s: answered directly as Fastify answers it', async (...request) => {
    await expectAnsweredAlike(gate, send, request);
  });

  test.each(orderCases)('%s, shed: answered directly as Fastify answers it', async (...request) => {
    gate.shedding.on = true;
    try {
      const direct = await expectAnsweredAlike(gate, send, request);
      expect(direct.status === 503 || direct.headers['grpc-status'] === '14').toBe(true);
      expect(direct.headers['retry-after']).toBe('1');
    } finally {
      gate.shedding.on = false;
    }
  });

  test('a gRPC call whose HEADERS frame ends the stream is answered directly', async () => {
    gate.throughFastify.length = 0;
    const answer = await send({ 'content-type': 'application/grpc', te: 'trailers' }, '');
    expect(gate.throughFastify).toEqual([]);
    // No message for a unary method: connect-es answers unimplemented, as through Fastify.
    expect(answer.headers).toMatchObject({
      ':status': 200,
      'grpc-status': String(Code.Unimplemented),
    });
  });

  test('the caller’s x-request-id reaches the handler and the access log; a new one otherwise', async () => {
    const client = createClient(OrderGateService, grpc());
    gate.seen.length = 0;
    gate.lines.length = 0;
    await client.placeOrder({ sku: 'a' }, { headers: { 'x-request-id': 'req-given' } });
    await client.placeOrder({ sku: 'a' });
    expect(gate.seen[0]?.requestId).toBe('req-given');
    expect(gate.seen[1]?.requestId).toMatch(/^[0-9a-f-]{36}$/);
    const access = gate.lines.filter((l) => l.reqId === 'req-given').map((l) => l.msg);
    expect(access).toEqual(['incoming request', 'request completed']);
  });

  test('a call the client cancels: the handler’s signal aborts, and the server serves on', async () => {
    const client = createClient(OrderGateService, grpc());
    gate.seen.length = 0;
    const cancel = new AbortController();
    const call = client.placeOrder({ sku: 'hang' }, { signal: cancel.signal });
    await expect.poll(() => gate.seen.length).toBe(1);
    cancel.abort();
    await expect(call).rejects.toMatchObject({ code: Code.Canceled });
    await expect.poll(() => gate.seen[0]?.signal?.aborted).toBe(true);
    expect(gate.seen[0]?.signal?.reason).toMatchObject({ code: Code.Canceled });
    expect((await client.placeOrder({ sku: 'b' })).orderId).toBe('o-b');
  });
});

test('a graceful close lets a running unary gRPC call finish', async () => {
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
  const client = createClient(OrderGateService, createGrpcTransport({ baseUrl: url }));
  const call = client.placeOrder({ sku: 'a' });
  await new Promise((r) => setTimeout(r, 100));
  await Promise.all([app.close(), expect(call).resolves.toMatchObject({ orderId: 'done' })]);
});
