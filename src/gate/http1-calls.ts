/**
 * Unary Connect and gRPC-Web calls served straight from their HTTP/1.1 request.
 *
 * Through Fastify such a call costs its routing, hooks and reply, the connect-fastify plugin and
 * connect-node's request and response adapters (a URL, a copy of the headers, the body as an
 * async generator, the answer written as chunks): about a third of a no-op call's CPU more than
 * bare Fastify spends on a JSON POST (docs/performance.md). So a call a backend makes (POST, a
 * Connect unary or gRPC-Web content type, a known unary method, no `Origin`) goes to the same
 * connect-es handler the Fastify plugin serves, built from the same router options; its answer
 * is written in one piece with its length. A browser's call (it names its origin) still goes
 * through Fastify, which answers CORS; so do GETs, streams, unknown paths, and every request
 * once the server is closing (Fastify answers those 503).
 */
import type { UniversalHandler, UniversalServerResponse } from '@connectrpc/connect/protocol';
import { Code, ConnectError } from '@connectrpc/connect';
import { universalResponseToNodeResponse } from '@connectrpc/connect-node';
import type http from 'node:http';
import {
  accessLog,
  browserAnswerHeaders,
  isBackendWebCall,
  nodeHeaders,
  requestBody,
  unaryHandlers,
  type DirectCallOptions,
} from './direct-calls.js';
import { refusalFor } from './shedding.js';
import { requestHeaders } from './stream-headers.js';

/** Serves a request it takes (true) or leaves it to the next listener (false). */
export type RequestServer = (req: http.IncomingMessage, res: http.ServerResponse) => boolean;

/** What the HTTP/1.1 direct path needs besides what both direct paths do. */
export interface Http1CallOptions extends DirectCallOptions {
  /** Whether the server is closing: Fastify then refuses new requests. */
  readonly closing: () => boolean;
}

/** Serves the unary Connect and gRPC-Web calls among `handlers`; see the file comment. */
export function createHttp1CallServer(
  handlers: readonly UniversalHandler[],
  options: Http1CallOptions,
): RequestServer {
  const unary = unaryHandlers(handlers);
  return (req, res) => {
    const { headers } = req;
    const handler = req.url === undefined ? undefined : unary.get(req.url);
    const contentType = headers['content-type'];
    if (
      handler === undefined ||
      req.method !== 'POST' ||
      contentType === undefined ||
      !isBackendWebCall(contentType, headers.origin) ||
      options.closing()
    ) {
      return false;
    }
    const refusal = refusalFor(options.shedding, handler.requestPath, contentType);
    if (refusal === undefined) {
      void serve(req, res, handler, options);
    } else {
      // Node reads and drops the body that is left once the answer is written.
      res.writeHead(refusal.status, { ...browserAnswerHeaders, ...refusal.headers });
      res.end(refusal.body);
    }
    return true;
  };
}

/**
 * Puts `first` before the server's own request listener (Fastify's): a request `first` takes
 * never reaches it. On a TLS server that also speaks HTTP/2, only HTTP/1.1 requests are offered.
 */
export function serveRequestsFirst(server: http.Server, first: () => RequestServer | undefined) {
  const rest = server.listeners('request') as ((...args: unknown[]) => void)[];
  server.removeAllListeners('request');
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (req.httpVersionMajor === 1 && first()?.(req, res) === true) return;
    for (const listener of rest) Reflect.apply(listener, server, [req, res]);
  });
}

async function serve(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  handler: UniversalHandler,
  options: Http1CallOptions,
): Promise<void> {
  const { headers, socket } = req;
  options.prepare(headers);
  const requestId = options.requestId(headers);
  const host = headers.host ?? '';
  const log = accessLog(options.logger, requestId, {
    url: req.url,
    host,
    remoteAddress: socket.remoteAddress,
    remotePort: socket.remotePort,
  });
  // The handler's signal aborts if the client goes away before the answer is written: a broken
  // connection errors the request (ECONNRESET), which the handler sees as `aborted`, as
  // connect-node tells it. A call that ends normally needs no abort here: connect-es aborts
  // the handler's own signal once the call is over.
  const abort = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) abort.abort(clientGone(req.errored ?? 'the client went away'));
  });
  req.once('error', (error) => abort.abort(clientGone(error)));
  try {
    const response = await handler({
      httpVersion: req.httpVersion,
      method: 'POST',
      url: `http://${host}${req.url ?? ''}`,
      header: requestHeaders(headers),
      body: requestBody(req, options.readMaxBytes),
      signal: abort.signal,
      contextValues: options.contextValues(requestId),
    });
    await respond(res, response);
    log.completed(response.status);
  } catch (error) {
    log.failed(error);
    res.destroy();
  }
}

/** A broken request as the handler's signal tells it. */
function clientGone(reason: unknown): ConnectError {
  return ConnectError.from(reason, Code.Aborted);
}

/** Writes `response` to `res` in one piece, its length given, unless it has trailers. */
async function respond(res: http.ServerResponse, response: UniversalServerResponse) {
  if (response.trailer !== undefined) {
    // Neither protocol answers a unary call with HTTP trailers; connect-node's writer does.
    await universalResponseToNodeResponse(response, res);
    return;
  }
  const chunks: Uint8Array[] = [];
  if (response.body !== undefined) for await (const chunk of response.body) chunks.push(chunk);
  if (res.destroyed) return;
  const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
  res.writeHead(response.status, {
    ...browserAnswerHeaders,
    ...nodeHeaders(response.header),
    'content-length': String(body?.byteLength ?? 0),
  });
  res.end(body);
}
