/**
 * Unary calls served straight from their HTTP/2 stream: gRPC's, and a backend's Connect and
 * gRPC-Web calls.
 *
 * Fastify serves HTTP/2 through Node's compatibility layer: a request and a response object per
 * stream, with their own streams and events, then its routing, hooks and reply. Backends call
 * the gate over gRPC, and that layer was a fifth of a no-op call's CPU (docs/performance.md).
 * So a unary call (POST, a known unary method) skips it when it is gRPC
 * (`application/grpc[+proto|+json]`), or Connect or gRPC-Web without an `Origin` (a browser's
 * call goes through Fastify, which answers CORS): its headers and body go to the same connect-es
 * handler the Fastify plugin serves, built from the same router options (interceptors, request
 * gate, limits, compression, deadlines), so the status codes, error details and trailers are
 * connect-es's own; its answer is written to the stream. Every other stream (streaming methods,
 * GETs, unknown paths) goes to Fastify as before. HTTP/1.1 has its own path (http1-calls.ts).
 */
import { Code, ConnectError } from '@connectrpc/connect';
import type { UniversalHandler, UniversalServerResponse } from '@connectrpc/connect/protocol';
import { contentTypeRegExp as grpcContentType } from '@connectrpc/connect/protocol-grpc';
import http2 from 'node:http2';
import {
  accessLog,
  browserAnswerHeaders,
  isBackendWebCall,
  nodeHeaders,
  requestBody,
  unaryHandlers,
  type DirectCallOptions,
} from './direct-calls.js';
import { refusalFor, type ShedAnswer } from './shedding.js';
import { requestHeaders } from './stream-headers.js';

/** Takes a stream it serves (true) or leaves it to the next listener (false). */
export type StreamServer = (
  stream: http2.ServerHttp2Stream,
  headers: http2.IncomingHttpHeaders,
) => boolean;

const { HTTP2_HEADER_STATUS } = http2.constants;

/**
 * The headers a call's answer gets besides its own, or undefined when the call is not one to
 * serve here: gRPC's answers none, Connect's and gRPC-Web's those Fastify would add.
 */
function extraHeaders(
  contentType: string,
  origin: string | undefined,
): Readonly<Record<string, string>> | undefined {
  if (grpcContentType.test(contentType)) return {};
  return isBackendWebCall(contentType, origin) ? browserAnswerHeaders : undefined;
}

/** Serves the unary calls among `handlers` described in the file comment. */
export function createHttp2CallServer(
  handlers: readonly UniversalHandler[],
  options: DirectCallOptions,
): StreamServer {
  const unary = unaryHandlers(handlers);
  return (stream, headers) => {
    const path = headers[':path'];
    const handler = path === undefined ? undefined : unary.get(path);
    const contentType = headers['content-type'];
    if (handler === undefined || headers[':method'] !== 'POST' || contentType === undefined) {
      return false;
    }
    const extra = extraHeaders(contentType, headers.origin);
    if (extra === undefined) return false;
    const refusal = refusalFor(options.shedding, handler.requestPath, contentType);
    if (refusal !== undefined) refuse(stream, refusal, extra);
    else void serve(stream, headers, handler, options, extra);
    return true;
  };
}

/**
 * Answers a shed call at once (gRPC's and gRPC-Web's trailers-only, Connect's with its error
 * body) and drops whatever body it sends.
 */
function refuse(
  stream: http2.ServerHttp2Stream,
  answer: ShedAnswer,
  extra: Readonly<Record<string, string>>,
): void {
  stream.on('error', () => undefined);
  if (!gone(stream)) {
    stream.respond(
      { ...extra, ...answer.headers, [HTTP2_HEADER_STATUS]: answer.status },
      { endStream: answer.body === undefined },
    );
    if (answer.body !== undefined) stream.end(answer.body);
  }
  stream.resume();
}

/**
 * Puts `first` before the server's own stream listener (the compatibility layer Fastify's
 * request handler runs on): a stream `first` takes never reaches it.
 */
export function serveStreamsFirst(
  server: http2.Http2Server | http2.Http2SecureServer,
  first: () => StreamServer | undefined,
): void {
  const rest = server.listeners('stream') as ((...args: unknown[]) => void)[];
  server.removeAllListeners('stream');
  server.on(
    'stream',
    (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, ...more: unknown[]) => {
      if (first()?.(stream, headers) === true) return;
      for (const listener of rest) Reflect.apply(listener, server, [stream, headers, ...more]);
    },
  );
}

async function serve(
  stream: http2.ServerHttp2Stream,
  headers: http2.IncomingHttpHeaders,
  handler: UniversalHandler,
  options: DirectCallOptions,
  extra: Readonly<Record<string, string>>,
): Promise<void> {
  options.prepare(headers);
  const requestId = options.requestId(headers);
  const authority = headers[':authority'] ?? headers.host ?? '';
  const log = accessLog(options.logger, requestId, {
    url: headers[':path'],
    host: authority,
    remoteAddress: stream.session?.socket.remoteAddress,
    remotePort: stream.session?.socket.remotePort,
  });
  const abort = new AbortController();
  stream.once('close', () => abort.abort(resetError(stream.rstCode)));
  // A reset or a broken session also errors the stream; the close above reports it, and the
  // body read fails with it. Without a listener the error would end the process.
  stream.on('error', () => undefined);
  try {
    const response = await handler({
      httpVersion: '2.0',
      method: 'POST',
      url: `http://${authority}${headers[':path'] ?? ''}`,
      header: requestHeaders(headers),
      body: requestBody(stream, options.readMaxBytes),
      signal: abort.signal,
      contextValues: options.contextValues(requestId),
    });
    await respond(stream, response, extra);
    log.completed(response.status);
  } catch (error) {
    log.failed(error);
    if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
  }
}

/** What a response without a body is read as. */
const noBody: AsyncIterable<Uint8Array> = {
  [Symbol.asyncIterator]: () => ({
    next: () => Promise.resolve({ done: true, value: undefined }),
  }),
};

/**
 * Writes `response` to `stream`: headers, body chunks (with back-pressure), then trailers; or,
 * when there is no body, headers and trailers in one frame.
 */
async function respond(
  stream: http2.ServerHttp2Stream,
  response: UniversalServerResponse,
  extra: Readonly<Record<string, string>>,
): Promise<void> {
  const { trailer } = response;
  const chunks = (response.body ?? noBody)[Symbol.asyncIterator]();
  // What a for-await loop left early would do: the body may hold resources to let go of.
  const abandon = async () => {
    await chunks.return?.();
  };
  let next = await chunks.next();
  if (gone(stream)) return abandon();
  const headers = {
    ...extra,
    ...nodeHeaders(response.header),
    [HTTP2_HEADER_STATUS]: response.status,
  };
  if (next.done === true && trailer !== undefined) {
    // No message (an error): gRPC's Trailers-Only answer, the status in the one HEADERS frame,
    // as grpc-go and grpc-java answer errors.
    stream.respond({ ...headers, ...nodeHeaders(trailer) }, { endStream: true });
    if (!stream.readableEnded) stream.resume();
    return;
  }
  stream.respond(headers, { waitForTrailers: trailer !== undefined });
  if (trailer !== undefined) {
    stream.once('wantTrailers', () => stream.sendTrailers(nodeHeaders(trailer)));
  }
  for (; next.done !== true; next = await chunks.next()) {
    const chunk = next.value;
    if (gone(stream)) return abandon();
    if (!stream.write(chunk)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          stream.off('drain', done);
          stream.off('close', done);
          resolve();
        };
        stream.on('drain', done);
        stream.on('close', done);
      });
    }
  }
  if (gone(stream)) return;
  stream.end();
  // A call answered before its body was read (refused by size, deadline or the request gate):
  // what the client still sends is dropped, so that flow control lets it finish.
  if (!stream.readableEnded) stream.resume();
}

/** Whether the stream can take no more (reset, or closed by the peer). */
function gone(stream: http2.ServerHttp2Stream): boolean {
  return stream.destroyed || stream.closed;
}

const endedNormally = new DOMException('This operation was aborted', 'AbortError');

const c = http2.constants;
/** connect-node's reading of each HTTP/2 reset code. */
const resetCodes: Readonly<Record<number, Code>> = {
  [c.NGHTTP2_PROTOCOL_ERROR]: Code.Internal,
  [c.NGHTTP2_INTERNAL_ERROR]: Code.Internal,
  [c.NGHTTP2_FLOW_CONTROL_ERROR]: Code.Internal,
  [c.NGHTTP2_SETTINGS_TIMEOUT]: Code.Internal,
  [c.NGHTTP2_FRAME_SIZE_ERROR]: Code.Internal,
  [c.NGHTTP2_COMPRESSION_ERROR]: Code.Internal,
  [c.NGHTTP2_CONNECT_ERROR]: Code.Internal,
  [c.NGHTTP2_REFUSED_STREAM]: Code.Unavailable,
  [c.NGHTTP2_CANCEL]: Code.Canceled,
  [c.NGHTTP2_ENHANCE_YOUR_CALM]: Code.ResourceExhausted,
  [c.NGHTTP2_INADEQUATE_SECURITY]: Code.PermissionDenied,
  [c.NGHTTP2_HTTP_1_1_REQUIRED]: Code.PermissionDenied,
};

/**
 * Why a stream closed, as connect-node tells it: a reset by the peer is an error with the
 * matching code; a normal end (and STREAM_CLOSED, as gRPC reads it) is a plain abort.
 */
function resetError(rstCode: number | undefined): unknown {
  if (rstCode === undefined) return endedNormally;
  const code = resetCodes[rstCode];
  return code === undefined
    ? endedNormally
    : new ConnectError(`http/2 stream closed with error code 0x${rstCode.toString(16)}`, code);
}
