/**
 * Issue #20: rapid reset (HEADERS then RST_STREAM, as fast as the socket takes them) from a client
 * that reconnects whenever it is thrown out. Each connection is closed with a GOAWAY once its
 * resets pass FLUXGATE_HTTP2_RESET_BURST, and its address must then wait a whole connection burst
 * before it is let in again; a legitimate client keeps its latency (no errors, and a p99 within 5x,
 * or 250 ms, of its unattacked figure: expectServedThrough), and once the attack stops the
 * process's descriptors and heap return to where they were.
 */
import { performance } from 'node:perf_hooks';
import { describe, expect, test } from 'vitest';
import { eventually, isolatedConfig } from '../support/stack.js';
import {
  clientStart,
  connectRaw,
  errorCode,
  expectServedThrough,
  headers,
  heapMiB,
  measureLegitimate,
  openDescriptors,
  rstStream,
  type RawConnection,
} from './support.js';
import { attackedGate } from './attacked-gate.js';

const config = isolatedConfig({
  http2ResetBurst: 100,
  http2ResetRate: 20,
  connectionRate: 2,
  connectionBurst: 5,
  outboxRelayIntervalMs: 600_000,
});
const calls = 600;
const target = attackedGate(config);

/** HEADERS then RST_STREAM for `count` streams from `firstId` on. */
function resetBatch(firstId: number, count: number): Buffer {
  const frames: Buffer[] = [];
  for (let i = 0; i < count; i++) frames.push(headers(firstId + 2 * i), rstStream(firstId + 2 * i));
  return Buffer.concat(frames);
}

/** What the attack did. */
interface Onslaught {
  /** Connections the gate let in (it sent its SETTINGS). */
  admitted: RawConnection[];
  /** Connections the gate closed before reading a byte. */
  refused: number;
  /** Streams opened and reset. */
  streams: number;
  /** Milliseconds the attack lasted. */
  ms: number;
}

/**
 * Rapid reset from 127.0.0.3 until `stop` is true: on each connection, HEADERS + RST_STREAM
 * batches as fast as the socket drains; when the gate closes it, straight back in.
 */
async function rapidReset(stop: () => boolean): Promise<Onslaught> {
  const result: Onslaught = { admitted: [], refused: 0, streams: 0, ms: 0 };
  const started = performance.now();
  while (!stop()) {
    const c = await connectRaw(target.port, '127.0.0.3');
    c.socket.write(clientStart);
    for (let id = 1; !c.socket.destroyed && !stop(); id += 200) {
      if (!c.socket.write(resetBatch(id, 100))) {
        await new Promise((resolve) => {
          c.socket.once('drain', resolve);
          c.socket.once('close', resolve);
        });
      } else {
        await new Promise((resolve) => setImmediate(resolve));
      }
      result.streams += 100;
    }
    c.socket.end();
    await c.closed;
    if (c.received() > 0) result.admitted.push(c);
    else result.refused += 1;
  }
  result.ms = performance.now() - started;
  return result;
}

describe('rapid reset with reconnects', () => {
  test('offending connections are closed early, their address slowed, and a legitimate client keeps its latency', async () => {
    const fdsBefore = openDescriptors();
    const heapBefore = heapMiB();
    const baseline = await measureLegitimate(target.gate.url, calls);
    let done = false;
    const attack = rapidReset(() => done);
    const attacked = await measureLegitimate(target.gate.url, calls);
    done = true;
    const onslaught = await attack;
    console.info(
      `p99 unattacked ${baseline.p99Ms.toFixed(2)} ms, attacked ${attacked.p99Ms.toFixed(2)} ms;` +
        ` ${onslaught.streams} streams reset over ${onslaught.admitted.length} admitted` +
        ` and ${onslaught.refused} refused connections in ${onslaught.ms.toFixed(0)} ms`,
    );
    expectServedThrough(baseline, attacked);
    // Every connection the attack got in was thrown out for its resets, by nghttp2's limit
    // (INTERNAL_ERROR) or the gate's (ENHANCE_YOUR_CALM), whichever counted past it first; the
    // last perhaps ended by the attacker itself when the test stopped it.
    const thrownOut: number[] = [errorCode.internalError, errorCode.enhanceYourCalm];
    const calmed = onslaught.admitted.filter((c) => thrownOut.includes(c.goaway() ?? -1));
    expect(calmed.length).toBeGreaterThanOrEqual(onslaught.admitted.length - 1);
    expect(calmed.length).toBeGreaterThan(0);
    // Reconnecting bought no more than the address's connection rate allows.
    expect(onslaught.admitted.length).toBeLessThanOrEqual(
      config.connectionBurst + (config.connectionRate * onslaught.ms) / 1000,
    );
    expect(onslaught.refused).toBeGreaterThan(0);
    await eventually(async () => openDescriptors() <= fdsBefore, 10_000, 'descriptors back');
    const heapAfter = heapMiB();
    console.info(
      `fds ${fdsBefore} -> ${openDescriptors()}; heap ${heapBefore.toFixed(1)} -> ${heapAfter.toFixed(1)} MiB`,
    );
    expect(heapAfter).toBeLessThanOrEqual(heapBefore + 16);
  });
});
