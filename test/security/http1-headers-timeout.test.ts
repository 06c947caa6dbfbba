/**
 * Issue #20: the HTTP/1.1 headers timeout takes effect within FLUXGATE_TIMEOUT_CHECK_INTERVAL_MS of
 * its value (Node checks it on a sweep every connectionsCheckingInterval, 30 s by default, so a 10
 * s limit acted after up to 40 s). HTTP/1.1 clients that send their headers a byte at a time are
 * cut off; a legitimate client keeps its latency (no errors, and a p99 within 5x, or 250 ms, of its
 * unattacked figure: expectServedThrough), and the process's descriptors and heap return to where
 * they were.
 */
import { describe, expect, test } from 'vitest';
import { eventually, isolatedConfig } from '../support/stack.js';
import {
  connectRaw,
  expectServedThrough,
  heapMiB,
  measureLegitimate,
  openDescriptors,
  siege,
  trickle,
} from './support.js';
import { attackedGate } from './attacked-gate.js';

const config = isolatedConfig({
  headersTimeoutMs: 1000,
  timeoutCheckIntervalMs: 100,
  connectionRate: 1_000_000,
  connectionBurst: 1_000_000,
  outboxRelayIntervalMs: 600_000,
});
const calls = 600;
const target = attackedGate(config);

describe('HTTP/1.1 headers timeout', () => {
  test('200 clients sending their headers a byte at a time are closed soon after the timeout', async () => {
    const request = Buffer.from(
      'POST /grpc.health.v1.Health/Check HTTP/1.1\r\nHost: gate\r\nContent-Type: application/json\r\n' +
        'X-Padding: ' +
        'a'.repeat(200) +
        '\r\n\r\n',
    );
    const trickling = trickle(request);
    try {
      const fdsBefore = openDescriptors();
      const heapBefore = heapMiB();
      const baseline = await measureLegitimate(target.gate.url, calls);
      const attack = siege(200, async () => {
        const c = await connectRaw(target.port, '127.0.0.7');
        trickling.add(c);
        return c;
      });
      await attack.ready;
      const attacked = await measureLegitimate(target.gate.url, calls);
      await attack.stop();
      const lifetimes = await Promise.all(attack.connections.map((c) => c.closed));
      console.info(
        `p99 unattacked ${baseline.p99Ms.toFixed(2)} ms, attacked ${attacked.p99Ms.toFixed(2)} ms;` +
          ` lifetimes ${Math.min(...lifetimes).toFixed(0)}-${Math.max(...lifetimes).toFixed(0)} ms`,
      );
      expectServedThrough(baseline, attacked);
      // The headers would take request.length x 20 ms (over 5 s): the timeout ended them,
      // answering 408 where Node could still write one.
      expect(Math.min(...lifetimes)).toBeGreaterThanOrEqual(config.headersTimeoutMs);
      // Within the check interval of the limit, and a long way short of Node's 30 s sweep.
      expect(Math.max(...lifetimes)).toBeLessThan(config.headersTimeoutMs + 10_000);
      await eventually(async () => openDescriptors() <= fdsBefore, 10_000, 'descriptors back');
      const heapAfter = heapMiB();
      console.info(
        `fds ${fdsBefore} -> ${openDescriptors()}; heap ${heapBefore.toFixed(1)} -> ${heapAfter.toFixed(1)} MiB`,
      );
      expect(heapAfter).toBeLessThanOrEqual(heapBefore + 16);
    } finally {
      trickling.stop();
    }
  });
});
