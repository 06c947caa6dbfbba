/**
 * Issue #16, HTTP/2 floods the other security files do not cover: a client that sends SETTINGS
 * or PING frames as fast as the socket takes them and never reads the acknowledgements, and a
 * SETTINGS frame with far more entries than a peer needs. Node's HTTP/2 guards (nghttp2's
 * bound on queued acknowledgements, Node's bound on entries per SETTINGS frame) must cut the
 * offending connection, while a legitimate client on its own connection keeps being served
 * without errors, and the process's heap and descriptors return to their baseline.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startGate, type RunningGate } from '../../src/main-gate.js';
import { eventually, isolatedConfig } from '../support/stack.js';
import {
  clientStart,
  connectRaw,
  frame,
  heapMiB,
  measureLegitimate,
  openDescriptors,
  recordHostileRows,
  sleep,
  type HostileRow,
  type RawConnection,
} from './support.js';

const config = isolatedConfig({ outboxRelayIntervalMs: 600_000 });
const settingsType = 4;
const pingType = 6;
/** How long an attack may go on before the test calls the gate's guard missing. */
const attackMs = 15_000;
let gate: RunningGate;
let port: number;
const rows: HostileRow[] = [];

beforeAll(async () => {
  gate = await startGate(config);
  port = Number(new URL(gate.url).port);
  await measureLegitimate(gate.url, 200); // warm-up
});

afterAll(async () => {
  await recordHostileRows(
    '3-floods',
    'HTTP/2 floods on a raw socket (flood-settings-ping.test.ts)',
    rows,
  );
  await gate.close();
});

/** What a flood achieved before the gate ended it. */
interface Flood {
  frames: number;
  closedAfterMs: number | undefined;
  goaway: number | undefined;
}

/**
 * Opens a raw HTTP/2 connection from 127.0.0.4, never reads from it, and writes `batch` (a run
 * of frames) as fast as the socket drains, until the gate closes it or `attackMs` pass.
 */
async function flood(batch: Buffer, framesPerBatch: number): Promise<Flood> {
  const c: RawConnection = await connectRaw(port, '127.0.0.4');
  c.socket.write(clientStart);
  // The acknowledgements pile up in the gate: the attacker never takes them off the wire.
  c.socket.pause();
  let frames = 0;
  const started = performance.now();
  let closedAt: number | undefined;
  void c.closed.then(() => (closedAt = performance.now()));
  while (closedAt === undefined && performance.now() - started < attackMs && !c.socket.destroyed) {
    const more = c.socket.write(batch);
    frames += framesPerBatch;
    if (!more) {
      await Promise.race([
        new Promise((resolve) => c.socket.once('drain', resolve)),
        c.closed,
        sleep(100),
      ]);
    }
  }
  // Read what the gate said last (its GOAWAY), then close if it did not.
  c.socket.resume();
  await Promise.race([c.closed, sleep(2000)]);
  c.socket.destroy();
  return {
    frames,
    closedAfterMs: closedAt === undefined ? undefined : closedAt - started,
    goaway: c.goaway(),
  };
}

/** The attack, measured: the flood cut, a legitimate client served throughout, heap and fds back. */
async function underFlood(input: string, batch: Buffer, framesPerBatch: number) {
  const fdsBefore = openDescriptors();
  const heapBefore = heapMiB();
  const attack = flood(batch, framesPerBatch);
  const served = await measureLegitimate(gate.url, 300);
  const result = await attack;
  await eventually(async () => openDescriptors() <= fdsBefore, 10_000, 'descriptors back');
  const heapAfter = heapMiB();
  const cut =
    result.closedAfterMs === undefined
      ? `NOT cut within ${attackMs / 1000} s`
      : `connection cut after ${result.frames.toLocaleString('en')} frames, ${result.closedAfterMs.toFixed(0)} ms` +
        (result.goaway === undefined ? ' (no GOAWAY read)' : `, GOAWAY code ${result.goaway}`);
  console.info(
    `${input}: ${cut}; legitimate ${served.calls} calls, ${served.errors} errors, p99 ${served.p99Ms.toFixed(1)} ms; heap ${heapBefore.toFixed(1)} -> ${heapAfter.toFixed(1)} MiB`,
  );
  rows.push({
    family: 'HTTP/2 flood',
    input,
    protocol: 'HTTP/2 (raw socket, h2c)',
    answer: `${cut}; a legitimate gRPC client meanwhile: ${served.calls} calls, ${served.errors} errors; heap after GC ${heapBefore.toFixed(1)} → ${heapAfter.toFixed(1)} MiB`,
    state: 'n/a (no RPC reached a handler)',
  });
  expect(result.closedAfterMs, cut).toBeDefined();
  expect(served.errors, served.firstError).toBe(0);
  expect(heapAfter).toBeLessThanOrEqual(heapBefore + 16);
}

test('a SETTINGS flood whose acknowledgements are never read is cut, and the gate keeps serving', async () => {
  const settings = frame(settingsType, 0, 0);
  await underFlood(
    'SETTINGS flood: empty SETTINGS frames, never reading the ACKs',
    Buffer.concat(Array<Buffer>(1000).fill(settings)),
    1000,
  );
});

test('a PING flood whose acknowledgements are never read is cut, and the gate keeps serving', async () => {
  const ping = frame(pingType, 0, 0, Buffer.alloc(8));
  await underFlood(
    'PING flood: PING frames, never reading the ACKs',
    Buffer.concat(Array<Buffer>(1000).fill(ping)),
    1000,
  );
});

test('SETTINGS frames of 1,000 entries each are cut, and the gate keeps serving', async () => {
  // Entry: 16-bit identifier, 32-bit value; 0x3 is MAX_CONCURRENT_STREAMS.
  const entry = Buffer.of(0x00, 0x03, 0x00, 0x00, 0x00, 0x64);
  const huge = frame(settingsType, 0, 0, Buffer.concat(Array<Buffer>(1000).fill(entry)));
  await underFlood(
    'SETTINGS frames of 1,000 entries each',
    Buffer.concat(Array<Buffer>(10).fill(huge)),
    10,
  );
});
