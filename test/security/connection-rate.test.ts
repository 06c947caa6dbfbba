/**
 * Issue #20: one client address cannot open connections faster than FLUXGATE_CONNECTION_RATE (after
 * a burst of FLUXGATE_CONNECTION_BURST): past it, each connection is closed before a byte of it is
 * read. A legitimate client on another address keeps its latency (no errors, and a p99 within 5x,
 * or 250 ms, of its unattacked figure: expectServedThrough), and once the attack stops the
 * process's descriptors and heap return to where they were.
 */
import { performance } from 'node:perf_hooks';
import { describe, expect, test } from 'vitest';
import { eventually, isolatedConfig } from '../support/stack.js';
import {
  clientStart,
  connectRaw,
  expectServedThrough,
  heapMiB,
  measureLegitimate,
  openDescriptors,
  type RawConnection,
} from './support.js';
import { attackedGate } from './attacked-gate.js';

const config = isolatedConfig({
  connectionRate: 10,
  connectionBurst: 20,
  headersTimeoutMs: 500,
  timeoutCheckIntervalMs: 100,
  outboxRelayIntervalMs: 600_000,
});
const calls = 600;
const target = attackedGate(config);

describe('connection rate per client address', () => {
  test('an address opening connections as fast as it can is held to its rate', async () => {
    const fdsBefore = openDescriptors();
    const heapBefore = heapMiB();
    const baseline = await measureLegitimate(target.gate.url, calls);
    let done = false;
    const attempts: RawConnection[] = [];
    const started = performance.now();
    // Four loops from 127.0.0.4, each opening a connection (preface and SETTINGS) and, without
    // waiting for it to end, the next.
    const flood = Promise.all(
      Array.from({ length: 4 }, async () => {
        while (!done) {
          const c = await connectRaw(target.port, '127.0.0.4');
          if (!c.socket.destroyed) c.socket.write(clientStart);
          attempts.push(c);
          await new Promise((resolve) => setImmediate(resolve));
        }
      }),
    );
    const attacked = await measureLegitimate(target.gate.url, calls);
    done = true;
    await flood;
    const ms = performance.now() - started;
    // The gate closes every one: refused at once, admitted ones after the headers timeout.
    await Promise.all(attempts.map((c) => c.closed));
    const admitted = attempts.filter((c) => c.received() > 0).length;
    console.info(
      `p99 unattacked ${baseline.p99Ms.toFixed(2)} ms, attacked ${attacked.p99Ms.toFixed(2)} ms;` +
        ` ${attempts.length} connections in ${ms.toFixed(0)} ms, ${admitted} admitted`,
    );
    expectServedThrough(baseline, attacked);
    expect(admitted).toBeGreaterThanOrEqual(config.connectionBurst);
    expect(admitted).toBeLessThanOrEqual(
      config.connectionBurst + Math.ceil((config.connectionRate * ms) / 1000),
    );
    expect(attempts.length).toBeGreaterThan(admitted);
    await eventually(async () => openDescriptors() <= fdsBefore, 10_000, 'descriptors back');
    const heapAfter = heapMiB();
    console.info(
      `fds ${fdsBefore} -> ${openDescriptors()}; heap ${heapBefore.toFixed(1)} -> ${heapAfter.toFixed(1)} MiB`,
    );
    expect(heapAfter).toBeLessThanOrEqual(heapBefore + 16);
  });
});
