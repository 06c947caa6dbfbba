/**
 * Builds the gate's Fastify instance with the Connect routes; never listens (main-gate.ts and
 * tests do). One port serves gRPC over cleartext HTTP/2 for backends and Connect / gRPC-Web
 * over HTTP/1.1 (or h2c) for browsers: each new connection is handed to the HTTP/2 or the
 * HTTP/1.1 server by its first bytes. With TLS, ALPN picks h2 or HTTP/1.1. Unary gRPC calls are
 * taken straight from their HTTP/2 stream (http2-calls.ts), and so are a backend's unary Connect
 * and gRPC-Web calls, over HTTP/1.1 from their request (http1-calls.ts); every other call goes
 * through Fastify. All paths run the same connect-es handlers, built from the same options.
 */
import fastifyCors from '@fastify/cors';
import fastifyStatic from '@fastify/static';
import {
  Code,
  ConnectError,
  cors as connectCors,
  createConnectRouter,
  createContextKey,
  createContextValues,
  type ConnectRouter,
  type ConnectRouterOptions,
  type ContextValues,
  type HandlerContext,
  type Interceptor,
} from '@connectrpc/connect';
import type { Compression } from '@connectrpc/connect/protocol';
import { fastifyConnectPlugin } from '@connectrpc/connect-fastify';
import { compressionBrotli, compressionGzip } from '@connectrpc/connect-node';
import { fastify, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import type { Config } from '../config.js';
import { createConnectionLimits, type ConnectionLimits } from './connection-limits.js';
import type { DirectCallOptions } from './direct-calls.js';
import { createHttp1CallServer, serveRequestsFirst, type RequestServer } from './http1-calls.js';
import { createHttp2CallServer, serveStreamsFirst, type StreamServer } from './http2-calls.js';
import { requestIdKey } from './request-id.js';
import { refusalFor, type Shedding } from './shedding.js';

/** What the server is built from. */
export interface ServerDeps {
  readonly config: Pick<
    Config,
    | 'tlsCertFile'
    | 'tlsKeyFile'
    | 'maxMessageBytes'
    | 'compressions'
    | 'maxDeadlineMs'
    | 'headersTimeoutMs'
    | 'requestTimeoutMs'
    | 'http2MaxConcurrentStreams'
    | 'http2IdleTimeoutMs'
    | 'http1KeepAliveTimeoutMs'
    | 'http2ResetBurst'
    | 'http2ResetRate'
    | 'maxConnections'
    | 'connectionRate'
    | 'connectionBurst'
    | 'timeoutCheckIntervalMs'
    | 'shutdownGraceMs'
    | 'corsOrigins'
  >;
  /** The process's logger; Fastify logs requests through it. */
  readonly logger: FastifyBaseLogger;
  /**
   * Registers the Connect services. Called twice (the Fastify plugin's router and the direct
   * gRPC path's), so it must do nothing else.
   */
  readonly routes: (router: ConnectRouter) => void;
  /** Run around every RPC (metrics). */
  readonly interceptors?: Interceptor[];
  /** A folder of static files served at `/` (the storefront; the console at `/console`), when built. */
  readonly staticRoot?: string;
  /**
   * Told the protocol (`connect`, `grpc`, `grpc-web`) of each call refused `invalid_argument`
   * before its request message was decoded: a message that does not decode (protobuf, JSON,
   * base64, framing) or a malformed protocol header. The interceptors never see such unary
   * calls; a server stream's interceptors run before its message is read.
   */
  readonly onMalformedRequest?: (protocol: string) => void;
  /** Calls that may be refused before they are read, on both paths (overload shedding). */
  readonly shedding?: Shedding;
}

/** Headers a browser may send and read besides Connect's own (docs/order-path.md, docs/refusals.md). */
const extraRequestHeaders = ['idempotency-key', 'authorization', 'x-request-id'];
const extraResponseHeaders = ['retry-after', 'idempotent-replayed', 'x-request-id'];

const http2Preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

/** Milliseconds per `grpc-timeout` unit (gRPC over HTTP/2: TimeoutValue TimeoutUnit). */
const grpcTimeoutUnitMs: Readonly<Record<string, number>> = {
  H: 3_600_000,
  M: 60_000,
  S: 1000,
  m: 1,
  u: 0.001,
  n: 0.000_001,
};

/**
 * Lowers a request's deadline header (`grpc-timeout` for gRPC and gRPC-Web,
 * `connect-timeout-ms` for Connect) to `maxMs` when it asks for more, as Envoy's
 * max_grpc_timeout does: the call runs with the maximum instead of being refused. Values that
 * do not parse are left for the protocol layer to refuse.
 */
export function clampDeadlineHeaders(headers: http.IncomingHttpHeaders, maxMs: number): void {
  const grpc = headers['grpc-timeout'];
  if (typeof grpc === 'string') {
    const [, value, unit = ''] = /^(\d{1,8})([HMSmun])$/.exec(grpc) ?? [];
    const unitMs = grpcTimeoutUnitMs[unit];
    if (value !== undefined && unitMs !== undefined && Number(value) * unitMs > maxMs) {
      headers['grpc-timeout'] = `${maxMs}m`;
    }
  }
  const connect = headers['connect-timeout-ms'];
  if (typeof connect === 'string' && /^\d{1,10}$/.test(connect) && Number(connect) > maxMs) {
    headers['connect-timeout-ms'] = String(maxMs);
  }
}

/**
 * `compression` with the caller's broken bytes answered as the caller's error: connect-node
 * answers `internal` to a compressed body that ends early (zlib's Z_BUF_ERROR, brotli's
 * truncated input) and `invalid_argument` only to some other corruptions. The size limit
 * (`resource_exhausted`) passes through.
 */
function callersDecompression(compression: Compression): Compression {
  return {
    name: compression.name,
    compress: (bytes) => compression.compress(bytes),
    async decompress(bytes, readMaxBytes) {
      try {
        return await compression.decompress(bytes, readMaxBytes);
      } catch (error) {
        if (error instanceof ConnectError && error.code === Code.Internal) {
          throw new ConnectError(
            `the request's ${compression.name} bytes do not decompress`,
            Code.InvalidArgument,
            undefined,
            undefined,
            error,
          );
        }
        throw error;
      }
    },
  };
}

/** Set once a call's request message has been decoded. */
const messageDecoded = createContextKey(false, { description: 'request message decoded' });

/** Yields `messages`, noting in `values` that one was decoded. */
async function* noteEachDecoded<T>(messages: AsyncIterable<T>, values: ContextValues) {
  for await (const message of messages) {
    values.set(messageDecoded, true);
    yield message;
  }
}

/**
 * The first interceptor: notes that the request message was decoded. A unary call's message is
 * decoded before the interceptors run; a stream's as the handler reads it, inside them.
 */
const noteDecoded: Interceptor = (next) => (req) => {
  if (!req.stream) {
    req.contextValues.set(messageDecoded, true);
    return next(req);
  }
  return next({ ...req, message: noteEachDecoded(req.message, req.contextValues) });
};

/**
 * Runs once request headers are in, before any body is read. A deadline that has already
 * passed (`grpc-timeout: 0n`, `connect-timeout-ms: 0`) is answered here: connect-es would
 * otherwise still call the handler, with its signal aborted. When asked, watches for calls
 * that end `invalid_argument` before their request message was decoded.
 */
function createRequestGate(onMalformed: ((protocol: string) => void) | undefined) {
  return (context: HandlerContext): void => {
    const leftMs = context.timeoutMs();
    if (leftMs !== undefined && leftMs <= 0) {
      throw new ConnectError(
        'the deadline had passed when the call arrived',
        Code.DeadlineExceeded,
      );
    }
    if (onMalformed === undefined) return;
    // Every call's signal is aborted once, when it ends: with the error that ended it, if any.
    const { signal } = context;
    signal.addEventListener('abort', () => {
      const reason: unknown = signal.reason;
      if (
        reason instanceof ConnectError &&
        reason.code === Code.InvalidArgument &&
        !context.values.get(messageDecoded)
      ) {
        onMalformed(context.protocolName);
      }
    });
  };
}

/**
 * Options of the HTTP/2 server, cleartext or TLS. Node's own guards stay on (SETTINGS, PING,
 * CONTINUATION floods; invalid frames; refused streams), and nghttp2's stream-reset limit is
 * the gate's: the first reset past it ends the connection (GOAWAY) within the read it came in.
 */
function http2Options(config: ServerDeps['config']): http2.ServerOptions {
  return {
    settings: { maxConcurrentStreams: config.http2MaxConcurrentStreams },
    maxSessionMemory: 64,
    streamResetBurst: config.http2ResetBurst,
    streamResetRate: config.http2ResetRate,
  };
}

/** Whether `head` (a connection's first bytes) starts the HTTP/2 preface; undefined: too short. */
function isHttp2Preface(head: Buffer): boolean | undefined {
  const probe = head.subarray(0, http2Preface.length);
  if (!probe.equals(http2Preface.subarray(0, probe.length))) return false;
  return probe.length === http2Preface.length ? true : undefined;
}

/**
 * Applies `limits` to `server`, whose HTTP/2 sessions `h2` opens: at most `maxConnections` at
 * once, and the session and stream limits on each session. `admit` when the server's own
 * connection handler does not already admit each connection.
 */
function applyLimits(
  server: net.Server,
  h2: http2.Http2Server | http2.Http2SecureServer,
  limits: ConnectionLimits,
  config: ServerDeps['config'],
  admit: boolean,
): void {
  server.maxConnections = config.maxConnections;
  h2.on('session', (session: http2.ServerHttp2Session) => limits.watch(session));
  if (admit) {
    // First of the listeners: a refused connection is gone before a TLS handshake begins.
    server.prependListener('connection', (socket: net.Socket) => limits.admit(socket));
  }
  server.once('close', () => limits.stop());
}

/** The direct paths, made once the routes are known; the servers ask for them per call. */
interface DirectPaths {
  http2?: StreamServer;
  http1?: RequestServer;
}

/** How often a closing server drops the HTTP/1.1 connections that have gone idle. */
const idleSweepMs = 50;

/** A cleartext server that routes each connection to HTTP/2 or HTTP/1.1 by its preface. */
function createCleartextServer(
  handler: http.RequestListener,
  config: ServerDeps['config'],
  direct: DirectPaths,
): net.Server {
  const h1 = http.createServer(
    {
      headersTimeout: config.headersTimeoutMs,
      requestTimeout: config.requestTimeoutMs,
      // Node checks both timeouts on this sweep (30 s by default: a 10 s limit took up to 40 s).
      connectionsCheckingInterval: config.timeoutCheckIntervalMs,
      keepAliveTimeout: config.http1KeepAliveTimeoutMs,
    },
    handler,
  );
  serveRequestsFirst(h1, () => direct.http1);
  const h2 = http2.createServer(
    http2Options(config),
    handler as unknown as (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void,
  );
  serveStreamsFirst(h2, () => direct.http2);
  // An http.Server tracks its connections (for closeIdleConnections, and to enforce the
  // headers and request timeouts) only from its 'listening' event; this one never listens itself.
  h1.emit('listening');
  const sessions = new Set<http2.ServerHttp2Session>();
  h2.on('session', (session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
  });
  const limits = createConnectionLimits(config);
  const server = net.createServer((socket) => {
    if (!limits.admit(socket)) return;
    // A connection must show which protocol it speaks within the headers timeout, and is
    // routed only once enough bytes have come to tell (one `P` could begin either).
    let routed = false;
    // Decided after the poll phase: when the event loop was busy past the timeout, the timer
    // fires before bytes already received are read, and the connection must not pay for that.
    const expire = () =>
      setImmediate(() => {
        if (!routed) socket.destroy();
      });
    socket.setTimeout(config.headersTimeoutMs, expire);
    let head = Buffer.alloc(0);
    const sniff = () => {
      let chunk: Buffer | null;
      while ((chunk = socket.read() as Buffer | null) !== null) head = Buffer.concat([head, chunk]);
      const h2Preface = isHttp2Preface(head);
      if (h2Preface === undefined) return;
      routed = true;
      socket.off('readable', sniff);
      socket.off('end', expire);
      socket.setTimeout(0, expire);
      socket.unshift(head);
      (h2Preface ? h2 : h1).emit('connection', socket);
    };
    socket.on('readable', sniff);
    // Closed before it told: nothing to serve.
    socket.once('end', expire);
  });
  applyLimits(server, h2, limits, config, false);
  // On close: stop accepting, let HTTP/2 sessions finish their streams (GOAWAY), drop idle
  // keep-alive connections; whatever is still open after the grace period is cut.
  const close = server.close.bind(server);
  server.close = (callback?: (err?: Error) => void) => {
    for (const session of sessions) session.close();
    h1.close(() => undefined); // stops its timers and drops idle keep-alive connections
    // A keep-alive connection still answering is dropped once its answer is written, rather
    // than kept open (and the close waiting) until its keep-alive timeout.
    const sweep = setInterval(() => h1.closeIdleConnections(), idleSweepMs).unref();
    const force = setTimeout(() => {
      for (const session of sessions) session.destroy();
      h1.closeAllConnections();
    }, config.shutdownGraceMs).unref();
    return close((err) => {
      clearInterval(sweep);
      clearTimeout(force);
      callback?.(err);
    });
  };
  return server;
}

/** Builds the gate server (not listening). */
export async function buildServer(deps: ServerDeps): Promise<FastifyInstance> {
  const { config } = deps;
  const tls = config.tlsCertFile !== '';
  const direct: DirectPaths = {};
  // How requests are logged and named, on both variants and on the direct gRPC path.
  const requests = {
    loggerInstance: deps.logger,
    requestIdHeader: 'x-request-id',
    genReqId: () => randomUUID(),
  };
  // Both variants are used as a plain FastifyInstance: the Connect plugin only sees raw requests.
  const app: FastifyInstance = tls
    ? (fastify({
        http2: true,
        https: {
          ...http2Options(config),
          // A TLS connection that negotiates no protocol is cut after the headers timeout too.
          unknownProtocolTimeout: config.headersTimeoutMs,
          allowHTTP1: true,
          cert: readFileSync(config.tlsCertFile),
          key: readFileSync(config.tlsKeyFile),
        },
        ...requests,
      }) as unknown as FastifyInstance)
    : fastify({
        serverFactory: (handler) =>
          createCleartextServer(handler, config, direct) as unknown as http.Server,
        ...requests,
      });
  if (tls) {
    const server = app.server as unknown as http2.Http2SecureServer;
    // Its HTTP/1.1 connections (allowHTTP1) are Node's http ones, which read this.
    Object.assign(server, { keepAliveTimeout: config.http1KeepAliveTimeoutMs });
    applyLimits(server, server, createConnectionLimits(config), config, true);
    serveStreamsFirst(server, () => direct.http2);
    serveRequestsFirst(server as unknown as http.Server, () => direct.http1);
  }
  // Browsers on other origins: only the configured ones, preflight covering Connect's headers.
  const corsOrigins = [...config.corsOrigins];
  await app.register(fastifyCors, {
    // A call without an Origin header is not a browser's: no CORS headers to work out or send.
    origin: (origin, callback) => {
      callback(null, origin === undefined ? false : corsOrigins);
    },
    methods: [...connectCors.allowedMethods],
    allowedHeaders: [...connectCors.allowedHeaders, ...extraRequestHeaders],
    exposedHeaders: [...connectCors.exposedHeaders, ...extraResponseHeaders],
    maxAge: 7200,
  });
  if (deps.staticRoot !== undefined) {
    await app.register(fastifyStatic, { root: deps.staticRoot, wildcard: false });
    // The sale console's page (web/console.html), at a path without the extension.
    app.get('/console', (_request, reply) => reply.sendFile('console.html'));
  }
  const { shedding } = deps;
  // Before the Connect plugin reads the headers; the raw request is the one it reads, over
  // HTTP/1.1 and HTTP/2 alike.
  app.addHook('onRequest', (request, reply, done) => {
    clampDeadlineHeaders(request.raw.headers, config.maxDeadlineMs);
    const answer = refusalFor(
      shedding,
      request.routeOptions.url ?? '',
      request.headers['content-type'],
    );
    if (answer !== undefined) {
      // Answered here: the hook chain stops, and nothing reads the body.
      void reply.code(answer.status).headers(answer.headers).send(answer.body);
      return;
    }
    done();
  });
  const compressions = { gzip: compressionGzip, br: compressionBrotli };
  const interceptors = deps.interceptors ?? [];
  // Once the server closes, calls still running after the grace period see their signal abort.
  const shutdown = new AbortController();
  // Every call in flight listens to it: no limit to warn about.
  setMaxListeners(0, shutdown.signal);
  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    setTimeout(() => shutdown.abort(), config.shutdownGraceMs).unref();
    done();
  });
  // One set of handler options for both paths, so they answer alike.
  const options: ConnectRouterOptions = {
    readMaxBytes: config.maxMessageBytes,
    acceptCompression: config.compressions.map((c) => callersDecompression(compressions[c])),
    // Never refuses: the deadline headers have already been lowered to this.
    maxTimeoutMs: config.maxDeadlineMs,
    shutdownSignal: shutdown.signal,
    requestGate: createRequestGate(deps.onMalformedRequest),
    interceptors:
      deps.onMalformedRequest === undefined ? interceptors : [noteDecoded, ...interceptors],
  };
  await app.register(fastifyConnectPlugin, {
    ...options,
    routes: deps.routes,
    contextValues: (req) => createContextValues().set(requestIdKey, req.id),
  });
  const router = createConnectRouter(options);
  deps.routes(router);
  const directOptions: DirectCallOptions = {
    prepare: (headers) => clampDeadlineHeaders(headers, config.maxDeadlineMs),
    requestId: (headers) => {
      const id = headers[requests.requestIdHeader];
      return typeof id === 'string' && id !== '' ? id : requests.genReqId();
    },
    contextValues: (id) => createContextValues().set(requestIdKey, id),
    logger: deps.logger,
    shedding,
    readMaxBytes: config.maxMessageBytes,
  };
  direct.http2 = createHttp2CallServer(router.handlers, directOptions);
  direct.http1 = createHttp1CallServer(router.handlers, {
    ...directOptions,
    closing: () => closing,
  });
  return app;
}
