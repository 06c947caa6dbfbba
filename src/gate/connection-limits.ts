/**
 * What stops one client from hoarding the gate's connections (docs/connection-limits.md): a
 * per-address connection rate, and for each HTTP/2 session an idle timeout, a deadline for its
 * first stream, a deadline for each stream's request and a bound on the streams it resets.
 *
 * One timer per server checks every deadline (as Node's HTTP/1.1 server does with
 * `connectionsCheckingInterval`), so a request pays no timer of its own: a stream costs a
 * counter, a map entry and one `close` listener. Each limit takes effect within one check
 * interval of its value.
 */
import http2 from 'node:http2';
import type net from 'node:net';
import type { Config } from '../config.js';

/** The settings the limits are built from. */
export type ConnectionLimitsConfig = Pick<
  Config,
  | 'headersTimeoutMs'
  | 'requestTimeoutMs'
  | 'http2IdleTimeoutMs'
  | 'http2ResetBurst'
  | 'http2ResetRate'
  | 'connectionRate'
  | 'connectionBurst'
  | 'timeoutCheckIntervalMs'
>;

/** The limits of one server. */
export interface ConnectionLimits {
  /**
   * Whether a new connection from `socket`'s address is within the address's rate; one that is
   * not is destroyed here, before a byte of it is read.
   */
  admit(socket: net.Socket): boolean;
  /** Applies the session and stream limits to a new HTTP/2 session. */
  watch(session: http2.ServerHttp2Session): void;
  /** Stops the checks (the server is closing). */
  stop(): void;
}

/** Streams reset per turn of the event loop when their request timeout passes. */
const resetBatch = 16;

/** A token bucket; `tokens` may go below zero, as a debt. */
interface Bucket {
  tokens: number;
  at: number;
}

/** Refills `bucket` for the time since it was last used, up to `burst`. */
function refill(bucket: Bucket, now: number, ratePerSecond: number, burst: number): void {
  bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.at) * ratePerSecond) / 1000);
  bucket.at = now;
}

/** What is tracked of one HTTP/2 session. */
interface Watched {
  readonly session: http2.ServerHttp2Session;
  readonly address: string;
  /** Streams open now. */
  open: number;
  /** Whether a stream was ever opened (before that, the headers timeout applies). */
  started: boolean;
  /** When the last stream closed (or the session began), while no stream is open. */
  idleSince: number;
  /** Open streams whose request may not have been received whole, by when each opened. */
  readonly receiving: Map<http2.ServerHttp2Stream, number>;
  readonly resets: Bucket;
  /** Set once the session has been told to go: the next check destroys it if still there. */
  closing: boolean;
  /** Set once the session has been closed for abuse. */
  punished: boolean;
}

/** Creates the limits; `now` is injectable for tests of the arithmetic. */
export function createConnectionLimits(
  config: ConnectionLimitsConfig,
  now: () => number = Date.now,
): ConnectionLimits {
  const sessions = new Set<Watched>();
  const addresses = new Map<string, Bucket>();
  /** Streams the gate reset for their request timeout: their resets are not the client's. */
  const timedOut = new WeakSet<http2.ServerHttp2Stream>();

  /** Closes an abusive session at once and makes its address wait a whole burst to reconnect. */
  function punish(w: Watched): void {
    w.punished = true;
    const bucket = addresses.get(w.address) ?? { tokens: config.connectionBurst, at: now() };
    bucket.tokens = Math.min(bucket.tokens, 0) - config.connectionBurst;
    addresses.set(w.address, bucket);
    // Destroyed with a code: the GOAWAY is written before the socket is closed.
    if (!w.session.destroyed) {
      w.session.destroy(undefined, http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
    }
  }

  /** Asks a session to go (GOAWAY); one that has not gone by the next check is destroyed. */
  function dismiss(w: Watched): void {
    if (w.closing) {
      w.session.destroy();
      return;
    }
    w.closing = true;
    w.session.close();
  }

  function check(): void {
    const t = now();
    for (const w of sessions) {
      if (w.session.destroyed) {
        sessions.delete(w);
        continue;
      }
      if (w.open === 0) {
        const limit = w.started ? config.http2IdleTimeoutMs : config.headersTimeoutMs;
        if (w.closing || t - w.idleSince >= limit) dismiss(w);
        continue;
      }
      if (config.requestTimeoutMs === 0) continue;
      // Oldest first: the first stream still within its time ends the look.
      for (const [stream, openedAt] of w.receiving) {
        if (stream.destroyed || stream.endAfterHeaders || stream.readableEnded) {
          w.receiving.delete(stream);
        } else if (t - openedAt < config.requestTimeoutMs) {
          break;
        } else if (stream.state.remoteClose) {
          w.receiving.delete(stream);
        } else {
          w.receiving.delete(stream);
          timedOut.add(stream);
          overdue.push(stream);
        }
      }
    }
    // An address whose bucket has refilled is no different from one never seen.
    for (const [address, bucket] of addresses) {
      refill(bucket, t, config.connectionRate, config.connectionBurst);
      if (bucket.tokens >= config.connectionBurst) addresses.delete(address);
    }
  }

  /**
   * Streams past their request timeout, reset a batch per turn of the event loop: tearing a
   * call down costs the handler's abort, and thousands at once would stall every other call.
   */
  const overdue: http2.ServerHttp2Stream[] = [];
  let resetting = false;
  function resetOverdue(): void {
    for (const stream of overdue.splice(0, resetBatch)) {
      if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_CANCEL);
    }
    resetting = overdue.length > 0;
    if (resetting) setImmediate(resetOverdue);
  }

  const timer = setInterval(() => {
    check();
    if (!resetting && overdue.length > 0) {
      resetting = true;
      resetOverdue();
    }
  }, config.timeoutCheckIntervalMs).unref();

  return {
    admit(socket) {
      const address = socket.remoteAddress ?? '';
      const t = now();
      let bucket = addresses.get(address);
      if (bucket === undefined) {
        bucket = { tokens: config.connectionBurst, at: t };
        addresses.set(address, bucket);
      } else {
        refill(bucket, t, config.connectionRate, config.connectionBurst);
      }
      if (bucket.tokens < 1) {
        socket.destroy();
        return false;
      }
      bucket.tokens -= 1;
      return true;
    },

    watch(session) {
      const t = now();
      const w: Watched = {
        session,
        address: session.socket.remoteAddress ?? '',
        open: 0,
        started: false,
        idleSince: t,
        receiving: new Map(),
        resets: { tokens: config.http2ResetBurst, at: t },
        closing: false,
        punished: false,
      };
      sessions.add(w);
      session.once('close', () => sessions.delete(w));
      session.on('stream', (stream) => {
        w.open += 1;
        w.started = true;
        const openedAt = now();
        w.receiving.set(stream, openedAt);
        stream.once('close', () => {
          w.open -= 1;
          w.receiving.delete(stream);
          const closedAt = now();
          if (w.open === 0) w.idleSince = closedAt;
          // Reset by the client before the answer was complete: what a rapid reset is made of.
          // nghttp2 counts the same resets and may have ended the session already; the
          // address is made to wait either way.
          if (!stream.aborted || w.punished || timedOut.has(stream)) return;
          refill(w.resets, closedAt, config.http2ResetRate, config.http2ResetBurst);
          w.resets.tokens -= 1;
          if (w.resets.tokens < 0) punish(w);
        });
      });
    },

    stop() {
      clearInterval(timer);
    },
  };
}
