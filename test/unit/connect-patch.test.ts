/**
 * patches/@connectrpc+connect+*.patch is applied to both builds of the package (ES modules and
 * CommonJS): a request message that does not decode, broken base64 in a Connect GET, and an
 * envelope flagged compressed (0x01) in a request that names no encoding, are the caller's error
 * (invalid_argument), while a client that cannot decode a response, or gets a compressed
 * envelope in a response without an encoding, still reports internal.
 */
import { createRequire } from 'node:module';
import { describe, expect, test } from 'vitest';
import * as esmConnect from '@connectrpc/connect';
import * as esmProtocol from '@connectrpc/connect/protocol';
import * as esmProtocolConnect from '@connectrpc/connect/protocol-connect';
import * as esmProtocolGrpc from '@connectrpc/connect/protocol-grpc';
import { InventoryService } from '../../gen/fluxgate/v1/inventory_pb.js';
import { OrderGateService } from '../../gen/fluxgate/v1/order_gate_pb.js';
import { envelope, envelopesOfBody } from '../support/wire.js';

const require = createRequire(import.meta.url);
const builds = [
  ['ES modules', esmConnect, esmProtocol, esmProtocolGrpc],
  [
    'CommonJS',
    require('@connectrpc/connect') as typeof esmConnect,
    require('@connectrpc/connect/protocol') as typeof esmProtocol,
    require('@connectrpc/connect/protocol-grpc') as typeof esmProtocolGrpc,
  ],
] as const;

/** A lone end-group tag: no protobuf decoder accepts it. */
const malformed = Uint8Array.of(0x0c);

/** The code of the ConnectError `run` throws (compared by number: each build has its class). */
function codeThrownBy(run: () => unknown): number | undefined {
  try {
    run();
  } catch (error) {
    return (error as { code?: number }).code;
  }
  return undefined;
}

/** The code of the ConnectError `promise` rejects with. */
async function codeRejectedBy(promise: Promise<unknown>): Promise<number | undefined> {
  try {
    await promise;
  } catch (error) {
    return (error as { code?: number }).code;
  }
  return undefined;
}

/**
 * A message flagged compressed (0x01) while the request names no encoding: `sku: "A"` (field 1)
 * as it stands, which no decompressor would take either.
 */
const flaggedCompressed = envelope(Uint8Array.of(0x0a, 0x01, 0x41), 0x01);

describe.each(builds)('@connectrpc/connect, %s build', (_, connect, protocol, protocolGrpc) => {
  const { Code } = connect;
  const method = OrderGateService.method.placeOrder;
  const serialization = protocol.createMethodSerializationLookup(method, undefined, undefined, {
    readMaxBytes: 1024,
    writeMaxBytes: 1024,
  });

  test('a request message that does not decode is invalid_argument', () => {
    expect(codeThrownBy(() => serialization.getI(true).parse(malformed))).toBe(
      Code.InvalidArgument,
    );
  });

  test('a response message that does not decode is still internal', () => {
    expect(codeThrownBy(() => serialization.getO(true).parse(malformed))).toBe(Code.Internal);
  });

  test('broken base64 in a Connect GET is invalid_argument (HTTP 400)', async () => {
    const router = connect.createConnectRouter({ grpc: false, grpcWeb: false });
    router.service(OrderGateService, {
      getOrder: () => {
        throw new Error('the handler must not run');
      },
    });
    const handler = router.handlers.find((h) => h.method.name === 'GetOrder')!;
    const res = await handler({
      httpVersion: '1.1',
      method: 'GET',
      url: 'http://gate/fluxgate.v1.OrderGateService/GetOrder?connect=v1&encoding=proto&base64=1&message=!!!!',
      header: new Headers(),
      body: protocol.createAsyncIterable([]),
      signal: new AbortController().signal,
    });
    expect(res.status).toBe(400);
    let body = '';
    for await (const chunk of res.body ?? []) body += Buffer.from(chunk).toString();
    expect(JSON.parse(body)).toEqual({
      code: 'invalid_argument',
      message: 'invalid base64 in query parameter "message"',
    });
  });

  describe('a request envelope flagged compressed (0x01) without an encoding', () => {
    const router = connect.createConnectRouter();
    router.service(OrderGateService, {
      placeOrder: () => {
        throw new Error('the handler must not run');
      },
    });
    router.service(InventoryService, {
      // eslint-disable-next-line require-yield -- the handler must not run
      async *watchStock() {
        throw new Error('the handler must not run');
      },
    });
    const call = (name: string, contentType: string) =>
      router.handlers.find((h) => h.method.name === name)!({
        httpVersion: '2.0',
        method: 'POST',
        url: `http://gate/${name === 'PlaceOrder' ? 'fluxgate.v1.OrderGateService' : 'fluxgate.v1.InventoryService'}/${name}`,
        header: new Headers({ 'content-type': contentType }),
        body: protocol.createAsyncIterable([flaggedCompressed]),
        signal: new AbortController().signal,
      });
    const reason = 'received compressed envelope, but do not know how to decompress';

    test('gRPC: invalid_argument (grpc-status 3)', async () => {
      const res = await call('PlaceOrder', 'application/grpc+proto');
      expect(await envelopesOfBody(res.body)).toEqual([]);
      expect(res.trailer?.get('grpc-status')).toBe(String(Code.InvalidArgument));
      expect(decodeURIComponent(res.trailer?.get('grpc-message') ?? '')).toBe(reason);
    });

    test('gRPC-Web: invalid_argument (grpc-status 3 in the trailer frame)', async () => {
      const res = await call('PlaceOrder', 'application/grpc-web+proto');
      const [trailer, ...rest] = await envelopesOfBody(res.body);
      expect(rest).toEqual([]);
      expect(trailer?.flags).toBe(0x80);
      expect(trailer?.data.toString()).toContain(`grpc-status: ${Code.InvalidArgument}\r\n`);
    });

    test('Connect streaming: invalid_argument in the end-stream message', async () => {
      const res = await call('WatchStock', 'application/connect+proto');
      const [end, ...rest] = await envelopesOfBody(res.body);
      expect(rest).toEqual([]);
      expect(end?.flags).toBe(0x02);
      expect(JSON.parse(end?.data.toString() ?? '')).toMatchObject({
        error: { code: 'invalid_argument', message: reason },
      });
    });
  });

  test('a response envelope flagged compressed without an encoding is still internal', async () => {
    const transport = protocolGrpc.createTransport({
      baseUrl: 'http://gate',
      useBinaryFormat: true,
      interceptors: [],
      acceptCompression: [],
      compressMinBytes: 0,
      readMaxBytes: 1024,
      writeMaxBytes: 1024,
      sendCompression: null,
      httpClient: () =>
        Promise.resolve({
          status: 200,
          header: new Headers({ 'content-type': 'application/grpc+proto' }),
          body: protocol.createAsyncIterable([envelope(Uint8Array.of(), 0x01)]),
          trailer: new Headers({ 'grpc-status': '0' }),
        }),
    });
    const placeOrder = OrderGateService.method.placeOrder;
    expect(
      await codeRejectedBy(transport.unary(placeOrder, undefined, undefined, undefined, {})),
    ).toBe(Code.Internal);
  });

  test('envelopeDecompress: internal by default, the given code otherwise', async () => {
    const env = { flags: 0x01, data: Uint8Array.of(1) };
    expect(await codeRejectedBy(protocol.envelopeDecompress(env, null, 1024))).toBe(Code.Internal);
    expect(
      await codeRejectedBy(protocol.envelopeDecompress(env, null, 1024, Code.InvalidArgument)),
    ).toBe(Code.InvalidArgument);
  });
});

test('codeToString (its table, ES modules build) names every code as the unpatched CommonJS build does', () => {
  const esm = esmProtocolConnect.codeToString;
  const cjs = (require('@connectrpc/connect/protocol-connect') as typeof esmProtocolConnect)
    .codeToString;
  const codes = Array.from({ length: 20 }, (_, i) => i);
  expect(codes.map(esm)).toEqual(codes.map(cjs));
  expect(esm(esmConnect.Code.FailedPrecondition)).toBe('failed_precondition');
});
