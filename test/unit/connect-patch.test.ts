/**
 * patches/@connectrpc+connect+*.patch is applied to both builds of the package (ES modules and
 * CommonJS): a request message that does not decode, and broken base64 in a Connect GET, are
 * the caller's error (invalid_argument), while a client that cannot decode a response still
 * reports internal.
 */
import { createRequire } from 'node:module';
import { describe, expect, test } from 'vitest';
import * as esmConnect from '@connectrpc/connect';
import * as esmProtocol from '@connectrpc/connect/protocol';
import { OrderGateService } from '../../gen/fluxgate/v1/order_gate_pb.js';

const require = createRequire(import.meta.url);
const builds = [
  ['ES modules', esmConnect, esmProtocol],
  [
    'CommonJS',
    require('@connectrpc/connect') as typeof esmConnect,
    require('@connectrpc/connect/protocol') as typeof esmProtocol,
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

describe.each(builds)('@connectrpc/connect, %s build', (_, connect, protocol) => {
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
});
