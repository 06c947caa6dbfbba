/**
 * Unary gRPC calls are served straight from their HTTP/2 stream (src/gate/grpc-streams.ts),
 * everything else through Fastify: this file checks which path each call takes, and that the
 * direct path answers as the Fastify one does (errors and their details, headers, trailers,
 * request ids, access logs, cancellation, a graceful close). The protocol, client and security
 * suites run every gRPC case of theirs through it too.
 */
import { create, toBinary } from '@bufbuild/protobuf';
import { Code, ConnectError, createClient, type Transport } from '@connectrpc/connect';
import { createGrpcTransport, createGrpcWebTransport } from '@connectrpc/connect-node';
import type { FastifyInstance } from 'fastify';
import http2 from 'node:http2';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { WaitingRoomTicketSchema } from '../../gen/fluxgate/v1/errors_pb.js';
import { InventoryService, WatchStockResponseSchema } from '../../gen/fluxgate/v1/inventory_pb.js';
import { OrderGateService, PlaceOrderRequestSchema } from '../../gen/fluxgate/v1/order_gate_pb.js';
import { loadConfig } from '../../src/config.js';
import { buildServer } from '../../src/gate/build-server.js';
import { requestIdKey } from '../../src/gate/request-id.js';

const config = loadConfig({}, { gatePort: 0, gateOpsPort: 0 });

describe('unary gRPC calls straight from the stream', () => {
  let app: FastifyInstance;
  let url: string;
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
            if (req.sku === 'slow') await new Promise((r) => setTimeout(r, 300));
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
    app.addHook('onRequest', (request, _reply, done) => {
      throughFastify.push(request.url);
      done();
    });
    url = await app.listen({ host: '127.0.0.1', port: 0 });
  });
  afterAll(() => app.close());

  const grpc = (): Transport => createGrpcTransport({ baseUrl: url });
  const grpcWeb = (): Transport => createGrpcWebTransport({ baseUrl: url, httpVersion: '2' });
  const placeOrderPath = '/fluxgate.v1.OrderGateService/PlaceOrder';

  test('a unary gRPC call does not go through Fastify; gRPC-Web and a gRPC stream do', async () => {
    throughFastify.length = 0;
    const { orderId } = await createClient(OrderGateService, grpc()).placeOrder({ sku: 'a' });
    expect(orderId).toBe('o-a');
    expect(throughFastify).toEqual([]);
    await createClient(OrderGateService, grpcWeb()).placeOrder({ sku: 'a' });
    expect(throughFastify).toEqual([placeOrderPath]);
    const updates = [];
    for await (const u of createClient(InventoryService, grpc()).watchStock({ sku: 'a' })) {
      updates.push(u.stock?.unitsLeft);
    }
    expect(updates).toEqual([3n]);
    expect(throughFastify).toEqual([placeOrderPath, '/fluxgate.v1.InventoryService/WatchStock']);
  });

  test.each([
    ['gRPC, direct', grpc],
    ['gRPC-Web, through Fastify', grpcWeb],
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

  test('the caller’s x-request-id reaches the handler and the access log; a new one otherwise', async () => {
    const client = createClient(OrderGateService, grpc());
    seen.length = 0;
    lines.length = 0;
    await client.placeOrder({ sku: 'a' }, { headers: { 'x-request-id': 'req-given' } });
    await client.placeOrder({ sku: 'a' });
    expect(seen[0]?.requestId).toBe('req-given');
    expect(seen[1]?.requestId).toMatch(/^[0-9a-f-]{36}$/);
    const access = lines.filter((l) => l.reqId === 'req-given').map((l) => l.msg);
    expect(access).toEqual(['incoming request', 'request completed']);
  });

  test('a call the client cancels: the handler’s signal aborts, and the server serves on', async () => {
    const client = createClient(OrderGateService, grpc());
    seen.length = 0;
    const cancel = new AbortController();
    const call = client.placeOrder({ sku: 'hang' }, { signal: cancel.signal });
    await expect.poll(() => seen.length).toBe(1);
    cancel.abort();
    await expect(call).rejects.toMatchObject({ code: Code.Canceled });
    await expect.poll(() => seen[0]?.signal?.aborted).toBe(true);
    expect(seen[0]?.signal?.reason).toMatchObject({ code: Code.Canceled });
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
