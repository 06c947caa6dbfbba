/**
 * StreamHeaders (src/gate/stream-headers.ts) answers every read as the `Headers` the direct gRPC
 * path used to build from the same stream headers, before and after a change.
 */
import { createHandlerContext } from '@connectrpc/connect';
import type http2 from 'node:http2';
import { describe, expect, test } from 'vitest';
import { OrderGateService } from '../../gen/fluxgate/v1/order_gate_pb.js';
import { requestHeaders } from '../../src/gate/stream-headers.js';

/** The copy the direct path made before: every value appended to a fresh `Headers`. */
function copied(node: http2.IncomingHttpHeaders): Headers {
  const out = new Headers();
  for (const [name, value] of Object.entries(node)) {
    if (name.startsWith(':') || value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) out.append(name, v);
    else out.append(name, value);
  }
  return out;
}

/** Everything a reader can learn from `h`. */
function reading(h: Headers, names: readonly string[]) {
  const each: [string, string][] = [];
  h.forEach((value, name, parent) => {
    expect(parent).toBe(h);
    each.push([name, value]);
  });
  return {
    get: names.map((n) => h.get(n)),
    has: names.map((n) => h.has(n)),
    entries: [...h.entries()],
    iterated: [...h],
    keys: [...h.keys()],
    values: [...h.values()],
    each,
    setCookie: h.getSetCookie(),
  };
}

const stream: http2.IncomingHttpHeaders = {
  ':method': 'POST',
  ':path': '/fluxgate.v1.OrderGateService/PlaceOrder',
  ':authority': '127.0.0.1:8080',
  ':scheme': 'http',
  'content-type': 'application/grpc',
  te: 'trailers',
  'grpc-timeout': '500m',
  'x-request-id': '  padded\t',
  'user-agent': 'grpc-go/1.70.0',
  'set-cookie': ['a=1', 'b=2'],
  'x-many': ['one', 'two'],
  authorization: 'Bearer token',
};
const names = [
  'Content-Type',
  'content-type',
  'TE',
  'grpc-timeout',
  'x-request-id',
  'set-cookie',
  'x-many',
  'X-Many',
  'authorization',
  'missing',
];

describe('requestHeaders', () => {
  test('reads as the copy of the same headers', () => {
    expect(reading(requestHeaders(stream), names)).toEqual(reading(copied(stream), names));
  });

  test('is a Headers, which connect-es keeps as the call context request headers', () => {
    const h = requestHeaders(stream);
    expect(h).toBeInstanceOf(Headers);
    const context = createHandlerContext({
      service: OrderGateService,
      method: OrderGateService.method.placeOrder,
      protocolName: 'grpc',
      requestMethod: 'POST',
      url: 'http://127.0.0.1:8080/fluxgate.v1.OrderGateService/PlaceOrder',
      requestHeader: h,
    });
    expect(context.requestHeader).toBe(h);
  });

  test.each([
    ['set', (h: Headers) => h.set('x-many', 'three')],
    ['append', (h: Headers) => h.append('Grpc-Timeout', '1S')],
    ['delete', (h: Headers) => h.delete('authorization')],
    [
      'set, then delete',
      (h: Headers) => {
        h.set('x-new', ' v ');
        h.delete('te');
      },
    ],
  ])('reads as the copy after %s', (_, change) => {
    const ours = requestHeaders(stream);
    const theirs = copied(stream);
    change(ours);
    change(theirs);
    expect(reading(ours, [...names, 'x-new'])).toEqual(reading(theirs, [...names, 'x-new']));
  });

  test('leaves the stream headers as they were', () => {
    const node = { ...stream };
    const h = requestHeaders(node);
    h.set('te', 'changed');
    h.delete('authorization');
    expect(node).toEqual(stream);
  });

  test('refuses a change the way Headers does', () => {
    expect(() => requestHeaders(stream).set('bad name', 'v')).toThrow(TypeError);
    expect(() => requestHeaders(stream).append('x', 'a\u0000b')).toThrow(TypeError);
  });

  test.each([':path', ':method', 'bad name', ''])('refuses to read %j, as Headers does', (name) => {
    for (const h of [requestHeaders(stream), copied(stream)]) {
      expect(() => h.get(name)).toThrow(
        new TypeError(`Headers.get: "${name}" is an invalid header name.`),
      );
      expect(() => h.has(name)).toThrow(
        new TypeError(`Headers.has: "${name}" is an invalid header name.`),
      );
    }
  });

  test('with no headers but pseudo-headers, reads as empty', () => {
    const empty = { ':method': 'POST', ':path': '/x' };
    expect(reading(requestHeaders(empty), names)).toEqual(reading(copied(empty), names));
  });
});
