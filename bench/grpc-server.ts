/**
 * The server side of the gRPC benchmark (grpc.ts), one target per process, pinned to its own
 * core by the caller. `node grpc-server.js <kind>` serves one of:
 * - raw-http2: `node:http2` answering every stream with one fixed gRPC PlaceOrder response;
 * - grpc-js: an `@grpc/grpc-js` server (default options), PlaceOrder answering at once; the
 *   messages go through the same protobuf-es code as the project's, so only the stack differs;
 * - noop: the project's buildServer (Fastify + Connect, same limits as the gate, no
 *   interceptors), PlaceOrder answering at once, over every protocol on one cleartext port;
 * - bare-h1, bare-h2c: plain Fastify with one JSON POST route, over HTTP/1.1 or cleartext HTTP/2;
 * - gate: the full gate (startGate), for its Health/Check and PlaceOrder;
 * - grpc-js-gate: the full gate for its placer, but PlaceOrder served by a grpc-js server (the
 *   gate's service mapping, none of its RPC layer): the order path behind the baseline transport;
 * - bare-h1-gate: the same with bare Fastify's JSON POST route over HTTP/1.1 (a key of its own
 *   for each request, since h2load sends one body);
 * - order-path: the full gate too, but the load is its own: asked `{ drive }`, it places that
 *   many orders through the gate's placer (no RPC layer, no sockets to the caller), that many
 *   at once, and answers with the outcome ({@link Driven}).
 * Tells its parent over the IPC channel `{ url }` once listening, then answers `'counters'`
 * with the process's counters (GCs since the last report and their time, bytes allocated, the
 * monotonic clock).
 * Exits on SIGTERM (so that `--cpu-prof` writes its profile).
 */
import {
  create,
  fromBinary,
  toBinary,
  toJson,
  type DescMessage,
  type MessageShape,
} from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import * as grpc from '@grpc/grpc-js';
import { fastify, type FastifyInstance } from 'fastify';
import http2 from 'node:http2';
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import { GCProfiler, getHeapStatistics } from 'node:v8';
import { pino } from 'pino';
import { OrderStatus } from '../gen/fluxgate/v1/order_pb.js';
import {
  OrderGateService,
  PlaceOrderRequestSchema,
  PlaceOrderResponseSchema,
} from '../gen/fluxgate/v1/order_gate_pb.js';
import { loadConfig } from '../src/config.js';
import { buildServer } from '../src/gate/build-server.js';
import type { OrderPlacer } from '../src/domain/place-order.js';
import { validatePlaceOrder } from '../src/domain/order.js';
import { Refusal } from '../src/domain/refusal.js';
import { startGate } from '../src/main-gate.js';

/** What the server reports about itself when asked. */
export interface ServerCounters {
  /** Garbage collections since the last report, and the time they took on the main thread. */
  gcCount: number;
  gcMs: number;
  allocatedBytes: number;
  /** CLOCK_MONOTONIC in µs: the clock of V8's CPU profile timestamps. */
  monotonicUs: number;
}

/** Orders for the order-path target to place, and how many at a time. */
export interface Drive {
  readonly calls: number;
  readonly concurrency: number;
  readonly sku: string;
  /** Makes this run's idempotency keys and customers new. */
  readonly keyPrefix: string;
}

/** What the order-path target answers to a {@link Drive}. */
export interface Driven {
  readonly ok: number;
  /** Refusals and failures, by reason or message. */
  readonly errors: Record<string, number>;
  readonly seconds: number;
  /** Each accepted order's time in the placer, ms, sorted. */
  readonly latenciesMs: number[];
}

const kind = process.argv[2] ?? '';
const config = loadConfig(process.env, { gatePort: 0, gateOpsPort: 0, logLevel: 'warn' });
const host = '127.0.0.1';
const placeOrderPath = `/${OrderGateService.typeName}/${OrderGateService.method.placeOrder.name}`;
const noopResponse = create(PlaceOrderResponseSchema, {
  orderId: '00000000-0000-7000-8000-000000000000',
  status: OrderStatus.PENDING,
});

/** One gRPC length-prefixed message: flags byte, 4-byte big-endian length, the message. */
function grpcFrame(message: Uint8Array): Buffer {
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, 5);
  return frame;
}

async function serveRawHttp2(): Promise<{ url: string; close: () => Promise<void> }> {
  const frame = grpcFrame(toBinary(PlaceOrderResponseSchema, noopResponse));
  const server = http2.createServer();
  server.on('stream', (stream: http2.ServerHttp2Stream) => {
    stream.resume(); // the request is read and dropped
    stream.respond(
      { ':status': 200, 'content-type': 'application/grpc' },
      { waitForTrailers: true },
    );
    stream.on('wantTrailers', () => {
      stream.sendTrailers({ 'grpc-status': '0' });
    });
    stream.end(frame);
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    url: `http://${host}:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A grpc-js serializer pair for a protobuf-es message. */
function codec<Desc extends DescMessage>(schema: Desc) {
  return {
    serialize: (message: MessageShape<Desc>) => Buffer.from(toBinary(schema, message)),
    deserialize: (bytes: Buffer) => fromBinary(schema, bytes),
  };
}

/** A PlaceOrder handler for the grpc-js server: the answer to `request`, or a gRPC error. */
type GrpcJsPlaceOrder = (
  request: MessageShape<typeof PlaceOrderRequestSchema>,
) => Promise<MessageShape<typeof PlaceOrderResponseSchema>>;

/** `@grpc/grpc-js` serving PlaceOrder with `placeOrder` (by default: the fixed answer at once). */
async function serveGrpcJs(
  placeOrder?: GrpcJsPlaceOrder,
): Promise<{ url: string; close: () => Promise<void> }> {
  const request = codec(PlaceOrderRequestSchema);
  const response = codec(PlaceOrderResponseSchema);
  const server = new grpc.Server();
  server.addService(
    {
      placeOrder: {
        path: placeOrderPath,
        requestStream: false,
        responseStream: false,
        requestSerialize: request.serialize,
        requestDeserialize: request.deserialize,
        responseSerialize: response.serialize,
        responseDeserialize: response.deserialize,
      },
    },
    {
      placeOrder: (
        call: grpc.ServerUnaryCall<MessageShape<typeof PlaceOrderRequestSchema>, unknown>,
        callback: grpc.sendUnaryData<unknown>,
      ) => {
        if (placeOrder === undefined) {
          callback(null, noopResponse);
          return;
        }
        placeOrder(call.request).then(
          (answer) => {
            callback(null, answer);
          },
          (error: unknown) => {
            callback({ code: grpc.status.UNAVAILABLE, details: String(error) });
          },
        );
      },
    },
  );
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${host}:0`, grpc.ServerCredentials.createInsecure(), (error, bound) => {
      if (error) reject(error);
      else resolve(bound);
    });
  });
  return {
    url: `http://${host}:${port}`,
    close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
}

async function serveNoop(): Promise<{ url: string; close: () => Promise<void> }> {
  const app = await buildServer({
    config,
    logger: pino({ level: 'warn' }),
    routes: (router) => {
      router.service(OrderGateService, { placeOrder: () => noopResponse });
    },
  });
  const url = await app.listen({ host, port: 0 });
  return { url, close: () => app.close() };
}

async function serveBare(
  http2Cleartext: boolean,
  placeOrder?: (body: unknown) => Promise<unknown>,
): Promise<{ url: string; close: () => Promise<void> }> {
  const body = { orderId: noopResponse.orderId, status: 'ORDER_STATUS_PENDING' };
  // The two variants differ in type only; both are used through the same few methods.
  const app = (http2Cleartext
    ? fastify({ http2: true, logger: false })
    : fastify({ logger: false })) as unknown as FastifyInstance;
  app.post('/order', placeOrder === undefined ? () => body : (request) => placeOrder(request.body));
  const url = await app.listen({ host, port: 0 });
  return { url, close: () => app.close() };
}

const servers: Record<string, () => Promise<{ url: string; close: () => Promise<void> }>> = {
  'raw-http2': serveRawHttp2,
  'grpc-js': () => serveGrpcJs(),
  noop: serveNoop,
  'bare-h1': () => serveBare(false),
  'bare-h2c': () => serveBare(true),
  gate: () => startGate(config),
  'order-path': async () => {
    const gate = await startGate(config);
    placer = gate.placer;
    return gate;
  },
  'grpc-js-gate': () =>
    behindGate((placer) => serveGrpcJs((request) => placeWith(placer, request))),
  // h2load sends one body over and over: each request gets a key of its own here, as ghz's do.
  'bare-h1-gate': () =>
    behindGate((placer) =>
      serveBare(false, async (body) => {
        const request = create(PlaceOrderRequestSchema, body as Record<string, never>);
        const n = String(bareKeys++);
        request.customerId = `c-bare-${n}`;
        request.idempotencyKey = `bare-${n}`;
        return toJson(PlaceOrderResponseSchema, await placeWith(placer, request));
      }),
    ),
};

/** A gate started for its placer, and a server of `serve`'s that places orders with it. */
async function behindGate(
  serve: (placer: OrderPlacer) => Promise<{ url: string; close: () => Promise<void> }>,
): Promise<{ url: string; close: () => Promise<void> }> {
  const gate = await startGate(config);
  const server = await serve(gate.placer);
  return {
    url: server.url,
    close: async () => {
      await server.close();
      await gate.close();
    },
  };
}

/** Request ids of the orders placed by grpc-js-gate and bare-h1-gate, and bare-h1-gate's keys. */
let requests = 0;
let bareKeys = 0;

/**
 * PlaceOrder as the gate's service answers it (validated, placed, mapped), without the gate's
 * RPC layer: its interceptors (metrics, errors, auth) and access log are the Connect side's.
 */
async function placeWith(
  orders: OrderPlacer,
  request: MessageShape<typeof PlaceOrderRequestSchema>,
): Promise<MessageShape<typeof PlaceOrderResponseSchema>> {
  const valid = validatePlaceOrder(
    {
      sku: request.sku,
      quantity: request.quantity,
      customerId: request.customerId,
      idempotencyKey: request.idempotencyKey,
      idempotencyKeyHeader: undefined,
      queueTicket: request.queueTicket,
    },
    config.maxQuantity,
  );
  const placed = await orders.place(valid, `bench-${String(requests++)}`);
  return create(PlaceOrderResponseSchema, {
    orderId: placed.order.orderId,
    status: OrderStatus.PENDING,
    acceptedAt: timestampFromMs(placed.order.acceptedAtMs),
  });
}

/** The order-path target's placer. */
let placer: OrderPlacer | undefined;

/**
 * Places `d.calls` orders through the gate's placer, `d.concurrency` at a time, each with a new
 * customer and key (as bench:grpc's ghz load sends them), as validated requests.
 */
async function drive(d: Drive): Promise<Driven> {
  if (placer === undefined) throw new Error(`the ${kind} target places no orders`);
  const orders = placer;
  const errors: Record<string, number> = {};
  const latenciesMs: number[] = [];
  let next = 0;
  const started = performance.now();
  const caller = async () => {
    while (next < d.calls) {
      const i = next++;
      const sent = performance.now();
      try {
        await orders.place(
          {
            sku: d.sku,
            quantity: 1,
            customerId: `c-${d.keyPrefix}-${i}`,
            idempotencyKey: `${d.keyPrefix}-${i}`,
          },
          `${d.keyPrefix}-${i}`,
        );
        latenciesMs.push(performance.now() - sent);
      } catch (error) {
        const reason = error instanceof Refusal ? error.reason : String(error);
        errors[reason] = (errors[reason] ?? 0) + 1;
      }
    }
  };
  await Promise.all(Array.from({ length: d.concurrency }, caller));
  return {
    ok: latenciesMs.length,
    errors,
    seconds: (performance.now() - started) / 1000,
    latenciesMs: latenciesMs.sort((a, b) => a - b),
  };
}
const serve = servers[kind];
if (serve === undefined || process.send === undefined) {
  console.error(`usage (from bench/grpc.ts): grpc-server.js ${Object.keys(servers).join('|')}`);
  process.exit(2);
}

// Garbage collections between two reports, from V8 itself (no JS callback per collection).
let gc = new GCProfiler();
gc.start();
// BENCH_HEAP_PROFILE_DIR: a sampling allocation profile of each window between two reports,
// counting objects already collected (which --heap-prof leaves out), written there.
const heapProfileDir = process.env.BENCH_HEAP_PROFILE_DIR;
const inspector = heapProfileDir === undefined ? undefined : new Session();
inspector?.connect();
let windows = 0;
async function heapSampling(): Promise<void> {
  if (inspector === undefined || heapProfileDir === undefined) return;
  if (windows++ > 0) {
    const { profile } = await inspector.post('HeapProfiler.stopSampling');
    writeFileSync(
      join(heapProfileDir, `${kind}.${process.pid}.${windows - 1}.heapprofile`),
      JSON.stringify(profile),
    );
  }
  await inspector.post('HeapProfiler.startSampling', {
    samplingInterval: 4096,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
}

async function report(): Promise<ServerCounters> {
  const { statistics } = gc.stop();
  gc = new GCProfiler();
  gc.start();
  await heapSampling();
  return {
    gcCount: statistics.length,
    gcMs: statistics.reduce((sum, s) => sum + s.cost, 0) / 1000,
    allocatedBytes: getHeapStatistics().total_allocated_bytes,
    monotonicUs: Number(process.hrtime.bigint() / 1000n),
  };
}

const server = await serve();
process.send({ url: server.url });
process.on('message', (message: 'counters' | { drive: Drive }) => {
  const answer = message === 'counters' ? report() : drive(message.drive);
  void answer.then((reply) => process.send?.(reply));
});
process.once('SIGTERM', () => {
  // Not waiting for a clean close: the load generator may hold connections open.
  setTimeout(() => process.exit(0), 2000).unref();
  void server.close().then(() => process.exit(0));
});
