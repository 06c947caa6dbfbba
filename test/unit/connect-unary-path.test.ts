/**
 * patches/@connectrpc+connect+*.patch gives gRPC and gRPC-Web a unary path (the Connect
 * protocol already had one) instead of running a unary call through the streaming pipeline.
 * These cases pin what a unary gRPC and gRPC-Web handler answers, byte for byte where it
 * matters: they were written against the unpatched package, passed there, and pass unchanged on
 * the patched one. Every case goes through the package's own router, as the gate's do.
 */
import { create, toBinary } from '@bufbuild/protobuf';
import { gunzipSync, gzipSync } from 'node:zlib';
import { describe, expect, test } from 'vitest';
import { Code, ConnectError, createConnectRouter, type HandlerContext } from '@connectrpc/connect';
import * as protocol from '@connectrpc/connect/protocol';
import { compressionGzip } from '@connectrpc/connect-node';
import { WaitingRoomTicketSchema } from '../../gen/fluxgate/v1/errors_pb.js';
import {
  OrderGateService,
  PlaceOrderRequestSchema,
  PlaceOrderResponseSchema,
} from '../../gen/fluxgate/v1/order_gate_pb.js';
import { envelope, envelopesOfBody } from '../support/wire.js';

const request = toBinary(
  PlaceOrderRequestSchema,
  create(PlaceOrderRequestSchema, { sku: 'A', quantity: 1, customerId: 'c', idempotencyKey: 'k' }),
);
const readMaxBytes = 64;

/** The status a gRPC-Web trailer frame carries. */
function trailerFields(data: Buffer): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of data.toString('latin1').split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) fields[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
  }
  return fields;
}

type Impl = (req: unknown, ctx: HandlerContext) => unknown;

/** One call through a router serving PlaceOrder with `impl`; the handler's context is kept. */
async function call(
  contentType: string,
  body: Uint8Array[],
  impl: Impl = () => create(PlaceOrderResponseSchema, { orderId: 'o-1' }),
  header: Record<string, string> = {},
  requestGate?: (ctx: HandlerContext) => void,
) {
  let context: HandlerContext | undefined;
  const router = createConnectRouter({
    readMaxBytes,
    acceptCompression: [compressionGzip],
    compressMinBytes: 0,
    requestGate: (ctx) => {
      context = ctx;
      requestGate?.(ctx);
    },
  });
  router.service(OrderGateService, { placeOrder: (req, ctx) => impl(req, ctx) as never });
  const handler = router.handlers.find((h) => h.method.name === 'PlaceOrder')!;
  const res = await handler({
    httpVersion: '2.0',
    method: 'POST',
    url: 'http://gate/fluxgate.v1.OrderGateService/PlaceOrder',
    header: new Headers({ 'content-type': contentType, ...header }),
    body: protocol.createAsyncIterable(body),
    signal: new AbortController().signal,
  });
  const envelopes = await envelopesOfBody(res.body);
  return { res, envelopes, signal: context?.signal };
}

/** A gRPC call's outcome: status, message, response envelopes. */
async function grpc(...args: Parameters<typeof call>) {
  const { res, envelopes, signal } = await call(...args);
  return {
    status: res.trailer?.get('grpc-status'),
    message: decodeURIComponent(res.trailer?.get('grpc-message') ?? ''),
    envelopes,
    res,
    signal,
  };
}

/** A gRPC-Web call's outcome, its status from the trailer frame that ends the body. */
async function grpcWeb(...args: Parameters<typeof call>) {
  const { res, envelopes, signal } = await call(...args);
  const trailer = envelopes.at(-1)!;
  expect(trailer.flags & 0x80).toBe(0x80);
  const fields = trailerFields(trailer.flags & 1 ? gunzipSync(trailer.data) : trailer.data);
  return {
    status: fields['grpc-status'],
    message: decodeURIComponent(fields['grpc-message'] ?? ''),
    envelopes: envelopes.slice(0, -1),
    fields,
    res,
    signal,
  };
}

/** The trailers of either outcome: HTTP trailers (gRPC) or the trailer frame (gRPC-Web). */
function trailerOf(out: { res: { trailer?: Headers } } & { fields?: Record<string, string> }) {
  return out.fields ?? Object.fromEntries(out.res.trailer ?? []);
}

const protocols = [
  ['gRPC', 'application/grpc+proto', grpc],
  ['gRPC-Web', 'application/grpc-web+proto', grpcWeb],
] as const;

describe.each(protocols)('a unary %s call', (_, contentType, run) => {
  test('one message in, one message out, status 0, the signal aborted without an error', async () => {
    const out = await run(contentType, [envelope(request)]);
    expect(out.status).toBe('0');
    expect(out.envelopes).toHaveLength(1);
    expect(out.envelopes[0]!.flags).toBe(0);
    expect(out.envelopes[0]!.data).toEqual(
      Buffer.from(
        toBinary(PlaceOrderResponseSchema, create(PlaceOrderResponseSchema, { orderId: 'o-1' })),
      ),
    );
    expect(out.res.status).toBe(200);
    expect(out.res.header?.get('content-type')).toBe(contentType);
    expect(out.signal?.aborted).toBe(true);
    expect((out.signal?.reason as Error).name).toBe('AbortError');
  });

  test('the message split byte by byte across chunks', async () => {
    const bytes = envelope(request);
    const out = await run(
      contentType,
      [...bytes].map((b) => Uint8Array.of(b)),
    );
    expect(out.status).toBe('0');
    expect(out.envelopes).toHaveLength(1);
  });

  test('the handler sees the request message', async () => {
    let seen: unknown;
    await run(contentType, [envelope(request)], (req) => {
      seen = req;
      return create(PlaceOrderResponseSchema);
    });
    expect(seen).toMatchObject({ sku: 'A', quantity: 1, customerId: 'c', idempotencyKey: 'k' });
  });

  test('no message: unimplemented, the handler not run', async () => {
    const out = await run(contentType, [], () => {
      throw new Error('the handler must not run');
    });
    expect(out).toMatchObject({
      status: String(Code.Unimplemented),
      message: 'protocol error: missing input message for unary method',
      envelopes: [],
    });
  });

  test('two messages: unimplemented, the handler not run', async () => {
    const out = await run(contentType, [envelope(request), envelope(request)], () => {
      throw new Error('the handler must not run');
    });
    expect(out).toMatchObject({
      status: String(Code.Unimplemented),
      message: 'protocol error: received extra input message for unary method',
      envelopes: [],
    });
  });

  test('bytes left after the message: invalid_argument', async () => {
    const out = await run(contentType, [envelope(request), Uint8Array.of(0, 0)]);
    expect(out).toMatchObject({
      status: String(Code.InvalidArgument),
      message: 'protocol error: incomplete envelope',
      envelopes: [],
    });
  });

  test('a message over readMaxBytes: resource_exhausted, before it is read', async () => {
    const out = await run(contentType, [envelope(new Uint8Array(readMaxBytes + 1))]);
    expect(out.status).toBe(String(Code.ResourceExhausted));
    expect(out.message).toMatch(/message size 65 is larger than configured readMaxBytes 64/);
  });

  test('a message that does not decode: invalid_argument', async () => {
    const out = await run(contentType, [envelope(Uint8Array.of(0x0c))]);
    expect(out.status).toBe(String(Code.InvalidArgument));
  });

  test('a compressed message with grpc-encoding gzip is decompressed', async () => {
    let seen: unknown;
    const out = await run(
      contentType,
      [envelope(gzipSync(request), 1)],
      (req) => {
        seen = req;
        return create(PlaceOrderResponseSchema);
      },
      { 'grpc-encoding': 'gzip' },
    );
    expect(out.status).toBe('0');
    expect(seen).toMatchObject({ sku: 'A' });
  });

  test('an encoding the server does not accept: unimplemented', async () => {
    const out = await run(contentType, [envelope(request, 1)], undefined, {
      'grpc-encoding': 'snappy',
    });
    expect(out.status).toBe(String(Code.Unimplemented));
    expect(out.message).toMatch(/snappy/);
  });

  test('the response compressed when the caller accepts gzip', async () => {
    const out = await run(contentType, [envelope(request)], undefined, {
      'grpc-accept-encoding': 'gzip',
    });
    expect(out.status).toBe('0');
    expect(out.res.header?.get('grpc-encoding')).toBe('gzip');
    expect(out.envelopes[0]!.flags).toBe(1);
  });

  test('a ConnectError: its code, message, details and metadata; the signal aborted with it', async () => {
    const error = new ConnectError('sold out', Code.FailedPrecondition, { 'x-reason': 'stock' }, [
      { desc: WaitingRoomTicketSchema, value: {} },
    ]);
    const out = await run(contentType, [envelope(request)], () => {
      throw error;
    });
    expect(out.status).toBe(String(Code.FailedPrecondition));
    expect(out.message).toBe('sold out');
    expect(out.envelopes).toEqual([]);
    const trailer = trailerOf(out);
    expect(trailer['x-reason']).toBe('stock');
    expect(trailer['grpc-status-details-bin']).toBeTruthy();
    expect(out.signal?.reason).toBe(error);
  });

  test('a deadline that passes while the handler runs: deadline_exceeded, the signal aborted with it', async () => {
    const out = await run(
      contentType,
      [envelope(request)],
      (_req, ctx) =>
        new Promise((_, reject) => {
          ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason as Error));
        }),
      { 'grpc-timeout': '20m' },
    );
    expect(out.status).toBe(String(Code.DeadlineExceeded));
    expect(out.signal?.reason).toMatchObject({ code: Code.DeadlineExceeded });
  });

  test('any other error: internal', async () => {
    const out = await run(contentType, [envelope(request)], () => {
      throw new Error('boom');
    });
    expect(out).toMatchObject({ status: String(Code.Internal), message: 'internal error' });
  });

  test('headers and trailers set by the handler are sent', async () => {
    const out = await run(contentType, [envelope(request)], (_req, ctx) => {
      ctx.responseHeader.set('x-head', 'h');
      ctx.responseTrailer.set('x-tail', 't');
      return create(PlaceOrderResponseSchema);
    });
    expect(out.res.header?.get('x-head')).toBe('h');
    const trailer = trailerOf(out);
    expect(trailer['x-tail']).toBe('t');
  });

  test('a request gate that refuses: its error, the body never read', async () => {
    const body = {
      [Symbol.asyncIterator]() {
        throw new Error('the body must not be read');
      },
    };
    let context: HandlerContext | undefined;
    const router = createConnectRouter({
      requestGate: (ctx) => {
        context = ctx;
        throw new ConnectError('too late', Code.DeadlineExceeded);
      },
    });
    router.service(OrderGateService, { placeOrder: () => create(PlaceOrderResponseSchema) });
    const handler = router.handlers.find((h) => h.method.name === 'PlaceOrder')!;
    const res = await handler({
      httpVersion: '2.0',
      method: 'POST',
      url: 'http://gate/fluxgate.v1.OrderGateService/PlaceOrder',
      header: new Headers({ 'content-type': contentType }),
      body: body as AsyncIterable<Uint8Array>,
      signal: new AbortController().signal,
    });
    const envelopes = await envelopesOfBody(res.body);
    const status =
      contentType === 'application/grpc+proto'
        ? res.trailer?.get('grpc-status')
        : trailerFields(envelopes.at(-1)!.data)['grpc-status'];
    expect(status).toBe(String(Code.DeadlineExceeded));
    expect(context?.signal.aborted).toBe(true);
  });
});

test('gRPC-Web: a trailer-flagged envelope in the request is skipped', async () => {
  const out = await grpcWeb('application/grpc-web+proto', [
    envelope(request),
    envelope(Buffer.from('x-ignored: 1\r\n'), 0x80),
  ]);
  expect(out.status).toBe('0');
  expect(out.envelopes).toHaveLength(1);
});
