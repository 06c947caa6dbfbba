/**
 * What the security tests attack with and measure by: HTTP/2 frames built by hand (what an
 * abusive client sends and Node's client will not), raw sockets from a chosen loopback address,
 * a legitimate client's latencies, and the process's descriptors and heap.
 */
import { createClient } from '@connectrpc/connect';
import { createGrpcTransport, Http2SessionManager } from '@connectrpc/connect-node';
import { readdirSync } from 'node:fs';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Health } from '../../gen/grpc/health/v1/health_pb.js';

/** The client connection preface (RFC 9113 §3.4). */
export const preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

/** Frame types and flags used here (RFC 9113 §6). */
export const frameType = { data: 0, headers: 1, rstStream: 3, settings: 4, goaway: 7 } as const;
const endStream = 0x1;
const endHeaders = 0x4;
/** Error codes (RFC 9113 §7). */
export const errorCode = { noError: 0, internalError: 2, cancel: 8, enhanceYourCalm: 11 } as const;

/** One frame: 9-byte header, then `payload`. */
export function frame(
  type: number,
  flags: number,
  streamId: number,
  payload: Uint8Array = Buffer.alloc(0),
) {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head.writeUInt8(type, 3);
  head.writeUInt8(flags, 4);
  head.writeUInt32BE(streamId, 5);
  return Buffer.concat([head, payload]);
}

/** What a client sends first: the preface and an empty SETTINGS frame. */
export const clientStart = Buffer.concat([preface, frame(frameType.settings, 0, 0)]);

/** An HPACK header block of literal fields, never indexed names (RFC 7541 §6.2.2). */
function headerBlock(fields: [string, string][]): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of fields) {
    // 0x10: literal never indexed, new name; lengths below 127 fit one byte, no Huffman.
    parts.push(Buffer.of(0x10, name.length), Buffer.from(name), Buffer.of(value.length));
    parts.push(Buffer.from(value));
  }
  return Buffer.concat(parts);
}

/** The header block of a gRPC call to grpc.health.v1.Health/Check. */
export const healthCheckHeaders = headerBlock([
  [':method', 'POST'],
  [':scheme', 'http'],
  [':path', '/grpc.health.v1.Health/Check'],
  [':authority', 'gate'],
  ['content-type', 'application/grpc'],
  ['te', 'trailers'],
]);

/** A HEADERS frame opening stream `id` with `block`; its request body is still to come. */
export function headers(id: number, block = healthCheckHeaders): Buffer {
  return frame(frameType.headers, endHeaders, id, block);
}

/** An empty DATA frame ending stream `id`'s request. */
export function endOfRequest(id: number): Buffer {
  return frame(frameType.data, endStream, id);
}

/** RST_STREAM for stream `id` (CANCEL). */
export function rstStream(id: number): Buffer {
  const code = Buffer.alloc(4);
  code.writeUInt32BE(errorCode.cancel);
  return frame(frameType.rstStream, 0, id, code);
}

/** A raw connection to the gate and what it has answered. */
export interface RawConnection {
  readonly socket: net.Socket;
  /** Resolves once the connection is closed, with the milliseconds it was open. */
  readonly closed: Promise<number>;
  /** Bytes the gate sent. */
  received(): number;
  /** The error code of the gate's first GOAWAY, once one came. */
  goaway(): number | undefined;
  /** How many frames of `type` the gate sent. */
  frames(type: number): number;
}

/** Opens a TCP connection to `port` on 127.0.0.1 from `localAddress` (any of 127.0.0.0/8). */
export function connectRaw(port: number, localAddress = '127.0.0.1'): Promise<RawConnection> {
  return new Promise((resolve) => {
    const openedAt = performance.now();
    const socket = net.connect({ host: '127.0.0.1', port, localAddress });
    let bytes = 0;
    let goaway: number | undefined;
    const counts = new Map<number, number>();
    let pending = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      // Frames are read only as far as to find a GOAWAY (or an HTTP/1.1 answer, left alone).
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 9) {
        const length = pending.readUIntBE(0, 3);
        if (pending.length < 9 + length) break;
        if (pending.readUInt8(3) === frameType.goaway && length >= 8 && goaway === undefined) {
          goaway = pending.readUInt32BE(9 + 4);
        }
        const type = pending.readUInt8(3);
        counts.set(type, (counts.get(type) ?? 0) + 1);
        pending = pending.subarray(9 + length);
      }
    });
    socket.on('error', () => undefined); // a reset is one way to be closed
    const closed = new Promise<number>((done) =>
      socket.once('close', () => done(performance.now() - openedAt)),
    );
    socket.once('connect', () =>
      resolve({
        socket,
        closed,
        received: () => bytes,
        goaway: () => goaway,
        frames: (type) => counts.get(type) ?? 0,
      }),
    );
    // Refused so early that the connect itself fails: as closed as a connection gets.
    socket.once('error', () =>
      resolve({ socket, closed, received: () => 0, goaway: () => undefined, frames: () => 0 }),
    );
  });
}

/** An attack on many connections at once. */
export interface Siege {
  /** Every connection opened so far, closed or not. */
  readonly connections: readonly RawConnection[];
  /** Resolves once `count` connections have been opened. */
  readonly ready: Promise<void>;
  /** Stops opening connections; resolves once the gate has closed every one. */
  stop(): Promise<void>;
}

/**
 * Opens `count` connections with `open` (which also starts the abuse on each); with
 * `reopen`, opens a new one whenever the gate closes one, until stopped.
 */
export function siege(count: number, open: () => Promise<RawConnection>, reopen = false): Siege {
  const connections: RawConnection[] = [];
  let stopped = false;
  let opened = 0;
  let signalReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (signalReady = resolve));
  const keepOne = async (): Promise<void> => {
    do {
      const connection = await open();
      connections.push(connection);
      if (++opened === count) signalReady();
      await connection.closed;
    } while (reopen && !stopped);
  };
  const loops = Array.from({ length: count }, () => keepOne());
  return {
    connections,
    ready,
    async stop() {
      stopped = true;
      await Promise.all(loops);
    },
  };
}

/** Open descriptors of this process (the gate runs in it). */
export function openDescriptors(): number {
  return readdirSync('/proc/self/fd').length;
}

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** The heap in use after a full collection, in MiB. */
export function heapMiB(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed / 2 ** 20;
}

/** The 99th percentile of `values`. */
export function p99(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.99) - 1)] ?? NaN;
}

/** What a legitimate client saw. */
export interface Latencies {
  readonly calls: number;
  readonly errors: number;
  /** The first error's message, to tell what went wrong. */
  readonly firstError?: string;
  readonly p99Ms: number;
}

/**
 * A legitimate gRPC client of the gate at `url`, from 127.0.0.1 on one HTTP/2 connection of its
 * own (as a backend keeps one): `calls` Health/Check calls, `concurrency` at a time.
 */
export async function measureLegitimate(
  url: string,
  calls: number,
  concurrency = 4,
): Promise<Latencies> {
  const sessionManager = new Http2SessionManager(url);
  const client = createClient(Health, createGrpcTransport({ baseUrl: url, sessionManager }));
  const times: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  let left = calls;
  const caller = async () => {
    while (left-- > 0) {
      const start = performance.now();
      try {
        await client.check({});
      } catch (error) {
        errors += 1;
        firstError ??= String(error);
      }
      times.push(performance.now() - start);
    }
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, caller));
  } finally {
    sessionManager.abort();
  }
  return { calls, errors, firstError, p99Ms: p99(times) };
}

/** Waits `ms`. */
export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
