/**
 * What the gate's two direct paths share: unary calls from their HTTP/2 stream (http2-calls.ts)
 * and from their HTTP/1.1 request (http1-calls.ts). Both skip Fastify's routing, hooks and reply
 * and run the same connect-es handlers the Fastify plugin serves, so they must do what Fastify
 * would have done for the call: lower its deadline, shed it under overload, name it, and write
 * the same access log lines.
 */
import { Code, ConnectError, type ContextValues } from '@connectrpc/connect';
import type { UniversalHandler } from '@connectrpc/connect/protocol';
import { contentTypeUnaryRegExp } from '@connectrpc/connect/protocol-connect';
import { contentTypeRegExp as grpcWebContentType } from '@connectrpc/connect/protocol-grpc-web';
import type { FastifyBaseLogger } from 'fastify';
import type http from 'node:http';
import type { Readable } from 'node:stream';
import type { Shedding } from './shedding.js';

/** What a direct path needs besides the router's handlers. */
export interface DirectCallOptions {
  /** Adjusts the request headers before anything reads them (the gate's deadline clamp). */
  readonly prepare: (headers: http.IncomingHttpHeaders) => void;
  /** The request id: the caller's, from its headers, or a new one. */
  readonly requestId: (headers: http.IncomingHttpHeaders) => string;
  /** The call's context values, as the Fastify plugin makes them. */
  readonly contextValues: (requestId: string) => ContextValues;
  /** Logs what Fastify logs of a request, at the same levels. */
  readonly logger: FastifyBaseLogger;
  /** Calls that may be refused before they are read (overload shedding). */
  readonly shedding?: Shedding;
  /** The router's limit on a request message: the body is read in one piece up to it. */
  readonly readMaxBytes: number;
}

/**
 * The unary handlers among `handlers`, by request path. Each speaks every protocol: the router
 * is built without restricting them, and a direct path takes only the content types it serves.
 */
export function unaryHandlers(
  handlers: readonly UniversalHandler[],
): Map<string, UniversalHandler> {
  const unary = new Map<string, UniversalHandler>();
  for (const handler of handlers) {
    if (handler.method.methodKind === 'unary') unary.set(handler.requestPath, handler);
  }
  return unary;
}

/**
 * What Fastify's CORS hook adds to the answer of a Connect or gRPC-Web call without an `Origin`:
 * the answer depends on that header, for caches. A direct path adds it to answer as Fastify does.
 */
export const browserAnswerHeaders: Readonly<Record<string, string>> = { vary: 'Origin' };

/**
 * Whether a POST is a backend's Connect unary or gRPC-Web call, which a direct path serves: its
 * content type is one of theirs, and it names no origin (a browser's call does, and goes through
 * Fastify, which answers CORS).
 */
export function isBackendWebCall(contentType: string, origin: string | undefined): boolean {
  return (
    origin === undefined &&
    (contentTypeUnaryRegExp.test(contentType) || grpcWebContentType.test(contentType))
  );
}

/** What Fastify's access log line says of a request. */
export interface RequestSummary {
  readonly url: string | undefined;
  readonly host: string;
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
}

/** The access log of one call. */
export interface AccessLog {
  /** Logs the answer, with the time since the call began. */
  readonly completed: (statusCode: number) => void;
  /** Logs a failure to serve the call; a call the client went away from is not one. */
  readonly failed: (error: unknown) => void;
}

/** Logs "incoming request" now, as Fastify does, and returns the rest of the call's log. */
export function accessLog(
  logger: FastifyBaseLogger,
  requestId: string,
  request: RequestSummary,
): AccessLog {
  const started = performance.now();
  const log = logsInfo(logger) ? logger.child({ reqId: requestId }) : undefined;
  log?.info({ req: { method: 'POST', ...request } }, 'incoming request');
  return {
    completed: (statusCode) =>
      log?.info(
        { res: { statusCode }, responseTime: performance.now() - started },
        'request completed',
      ),
    failed: (error) => {
      // As the Fastify plugin does: a call the client went away from is not the server's failure.
      if (ConnectError.from(error).code === Code.Aborted) return;
      logger.error({ err: error, reqId: requestId }, `handler for ${request.url ?? ''} failed`);
    },
  };
}

const infoLevel = 30;

/** Pino's level numbers: Fastify's logger type does not carry isLevelEnabled. */
const levelValues: Readonly<Record<string, number>> = {
  trace: 10,
  debug: 20,
  info: infoLevel,
  warn: 40,
  error: 50,
  fatal: 60,
};

/** Whether `logger` writes info lines (a custom level counts as yes). */
function logsInfo(logger: FastifyBaseLogger): boolean {
  if (logger.level === 'silent') return false;
  return (levelValues[logger.level] ?? 0) <= infoLevel;
}

/** Web `Headers` as a Node header object (HTTP/1.1 and HTTP/2 alike). */
export function nodeHeaders(headers: Headers | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  headers?.forEach((value, name) => {
    out[name] = value;
  });
  return out;
}

/**
 * A request body (an HTTP/1.1 request or an HTTP/2 stream) as connect-es reads it, collected
 * with the request's own events. That costs less than its async iterator, which sets up
 * listeners, promises and end-of-stream tracking per call, and destroys the request when
 * connect-es stops reading early (a body over the limit), so that no answer could be written.
 * Past `maxBytes` it hands over what it has, then the rest as it comes, so that connect-es
 * refuses an oversized body exactly as it would.
 */
export async function* requestBody(req: Readable, maxBytes: number) {
  const head = await new Promise<{ chunks: Buffer[]; ended: boolean }>((resolve, reject) => {
    // Already over: the body was empty and its end read (HTTP/2 reads a HEADERS frame that ends
    // the stream at once), or the request is gone.
    if (req.readableEnded) {
      resolve({ chunks: [], ended: true });
      return;
    }
    if (req.destroyed) {
      reject(req.errored ?? closedEarly());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const settle = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.byteLength;
      if (size > maxBytes) {
        settle();
        req.pause();
        resolve({ chunks, ended: false });
      }
    };
    const onEnd = () => {
      settle();
      resolve({ chunks, ended: true });
    };
    const onError = (error: Error) => {
      settle();
      reject(error);
    };
    // Closed before its end (a reset, a dropped connection): no more body will come.
    const onClose = () => {
      settle();
      reject(req.errored ?? closedEarly());
    };
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('error', onError);
    req.once('close', onClose);
  });
  yield* head.chunks;
  if (!head.ended) for await (const chunk of req) yield chunk as Buffer;
}

/** What reading a body fails with when its request closed before the end. */
function closedEarly(): Error {
  return Object.assign(new Error('the request closed before its body ended'), {
    code: 'ERR_STREAM_PREMATURE_CLOSE',
  });
}
