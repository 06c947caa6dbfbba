/**
 * patches/@connectrpc+connect-node+*.patch: the request URL is still what new URL() makes of it
 * (now cached per origin and path), a request that closes without an error aborts its signal
 * with an AbortError, and writing a response resolves once it is sent.
 */
import { EventEmitter } from 'node:events';
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { expect, test } from 'vitest';
import {
  universalRequestFromNodeRequest,
  universalResponseToNodeResponse,
} from '@connectrpc/connect-node';
import { createAsyncIterable } from '@connectrpc/connect/protocol';

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

/** A response with a body and trailers, as a handler returns it. */
const answer = () => ({
  status: 200,
  header: new Headers({ 'content-type': 'text/plain' }),
  body: createAsyncIterable([new TextEncoder().encode('ok')]),
  trailer: new Headers({ 'x-done': '1' }),
});

test('writing a response resolves once it is sent, over HTTP/1.1', async () => {
  let written: Promise<void> | undefined;
  const server = http.createServer((_req, res) => {
    written = universalResponseToNodeResponse(answer(), res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    const res = await fetch(`http://127.0.0.1:${String(port)}/`);
    expect(await res.text()).toBe('ok');
    // Unpatched, this never settled: it waited for an 'end' event a response never emits.
    await expect(written).resolves.toBeUndefined();
  } finally {
    server.close();
  }
});

test('writing a response resolves once it is sent, over HTTP/2', async () => {
  let written: Promise<void> | undefined;
  const server = http2.createServer((_req, res) => {
    written = universalResponseToNodeResponse(answer(), res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const session = http2.connect(`http://127.0.0.1:${String(port)}`);
  try {
    const body = await new Promise<string>((resolve, reject) => {
      const stream = session.request({ ':path': '/' });
      let text = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => (text += chunk));
      stream.on('end', () => resolve(text));
      stream.on('error', reject);
      stream.end();
    });
    expect(body).toBe('ok');
    await expect(written).resolves.toBeUndefined();
  } finally {
    session.close();
    server.close();
  }
});
