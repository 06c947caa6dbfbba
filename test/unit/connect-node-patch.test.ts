/**
 * patches/@connectrpc+connect-node+*.patch: the request URL is still what new URL() makes of it
 * (now cached per origin and path), and a request that closes without an error aborts its
 * signal with an AbortError.
 */
import { EventEmitter } from 'node:events';
import type http from 'node:http';
import { expect, test } from 'vitest';
import { universalRequestFromNodeRequest } from '@connectrpc/connect-node';

/** A Node HTTP/1.1 request and response, as far as the adapter reads them. */
function h1(host: string, url: string) {
  const request = Object.assign(new EventEmitter(), {
    socket: {},
    headers: { host },
    url,
    method: 'POST',
    httpVersion: '1.1',
  });
  const response = new EventEmitter();
  return {
    request,
    response,
    universal: universalRequestFromNodeRequest(
      request as unknown as http.IncomingMessage,
      response as unknown as http.ServerResponse,
      undefined,
      undefined,
    ),
  };
}

test.each([
  ['gate:8080', '/pkg.Svc/Method'],
  ['GATE:80', '/pkg.Svc/Method'],
  ['127.0.0.1', '/a/../b/%7e?x=1&y'],
  ['[::1]:443', '/pkg.Svc/Method'],
])('host %s, path %s: the URL new URL() makes, the first time and the next', (host, path) => {
  const expected = new URL(path, `http://${host}`).toString();
  expect(h1(host, path).universal.url).toBe(expected);
  expect(h1(host, path).universal.url).toBe(expected);
});

test('a request that closes without an error aborts its signal with an AbortError', () => {
  const { response, universal } = h1('gate', '/x');
  expect(universal.signal.aborted).toBe(false);
  response.emit('close');
  expect(universal.signal.aborted).toBe(true);
  expect((universal.signal.reason as Error).name).toBe('AbortError');
});
