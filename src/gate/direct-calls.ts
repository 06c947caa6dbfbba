/**
 * What the gate's two direct paths share: unary gRPC from its HTTP/2 stream (grpc-streams.ts)
 * and unary Connect and gRPC-Web from their HTTP/1.1 request (http1-calls.ts). Both skip
 * Fastify's routing, hooks and reply and run the same connect-es handlers the Fastify plugin
 * serves, so they must do what Fastify would have done for the call: lower its deadline, shed
 * it under overload, name it, and write the same access log lines.
 */
import { Code, ConnectError, type ContextValues } from '@connectrpc/connect';
import type { UniversalHandler } from '@connectrpc/connect/protocol';
import type { FastifyBaseLogger } from 'fastify';
import type http from 'node:http';
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
}

/** The unary handlers among `handlers` that speak `protocol`, by request path. */
export function unaryHandlers(
  handlers: readonly UniversalHandler[],
  protocol: 'grpc' | 'connect' | 'grpc-web',
): Map<string, UniversalHandler> {
  const unary = new Map<string, UniversalHandler>();
  for (const handler of handlers) {
    if (handler.method.methodKind === 'unary' && handler.protocolNames.includes(protocol)) {
      unary.set(handler.requestPath, handler);
    }
  }
  return unary;
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
