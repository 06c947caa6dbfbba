/**
 * What a rehearsal records and reports, from made-up answers: each answer in its second, buyers
 * counted by how they ended, the report's totals and its JSON embedded in the HTML page intact.
 */
import { describe, expect, test } from 'vitest';
import { Recorder } from '../../src/rehearsal/recorder.js';
import { buildReport, htmlReport, summaryText } from '../../src/rehearsal/report.js';
import type { RehearsalResult, SaleCheck } from '../../src/rehearsal/rehearse.js';

const check: SaleCheck = {
  totalStock: 2,
  liveUnits: 0,
  databaseUnits: 0,
  inFlightUnits: 0,
  drift: 0,
  soldInRedis: 2,
  soldInDatabase: 2,
  stats: { accepted: 2, confirmed: 2, rejected: 0, pending: 0, soldOutRefusals: 1, rateLimited: 1 },
  settled: true,
  oversold: false,
  agrees: true,
};

/** Five buyers: two accepted (one after a RATE_LIMITED), one refused, one unfinished, one never arrived. */
function crowd(): Recorder {
  const r = new Recorder();
  r.arrived = 4;
  r.lastArrivalMs = 20.4;
  r.answer('ACCEPTED', 100, 5);
  r.answer('RATE_LIMITED', 200, 7);
  // Nothing answered in the second from 1 s to 2 s.
  r.answer('ACCEPTED', 2100, 9);
  r.answer('SOLD_OUT', 2500, 1);
  r.end({ kind: 'accepted' });
  r.end({ kind: 'accepted' });
  r.end({ kind: 'refused', reason: 'SOLD_OUT' });
  r.end({ kind: 'unfinished', lastReason: 'RATE_LIMITED' });
  return r;
}

const result = (recorder: Recorder): RehearsalResult => ({
  sku: 'REHEARSAL-x',
  createdSale: true,
  startedAtMs: Date.UTC(2026, 11, 1),
  durationMs: 3000,
  timedOut: true,
  recorder,
  check,
});

const run = {
  gate: 'http://127.0.0.1:1',
  profile: { kind: 'all-at-once' } as const,
  buyers: 5,
  timeoutMs: 3000,
};

describe('Recorder', () => {
  test('each answer counts in the second it arrived; the sell-out is the first SOLD_OUT', () => {
    const r = crowd();
    expect(r.seconds.map((s) => Object.fromEntries(s.answers))).toEqual([
      { ACCEPTED: 1, RATE_LIMITED: 1 },
      {},
      { ACCEPTED: 1, SOLD_OUT: 1 },
    ]);
    expect(r.rateAt(3000)).toBe(2);
    expect(r.rateAt(2000)).toBe(0);
    expect(r.soldOutMs).toBe(2500);
    expect(r.lastAcceptMs).toBe(2100);
    expect(r.acceptedBuyers).toBe(2);
    expect(r.ended).toBe(4);
    expect(r.latency.totalCount).toBe(4);
    expect(r.acceptLatency.totalCount).toBe(2);
  });
});

describe('buildReport', () => {
  test('buyers by how they ended, answers by outcome, a second without answers has no latency', () => {
    const report = buildReport(result(crowd()), run);
    expect(report.outcome).toEqual({
      arrived: 4,
      accepted: 2,
      refused: { SOLD_OUT: 1 },
      unfinished: 1,
      unfinishedLastAnswer: { RATE_LIMITED: 1 },
      notArrived: 1,
    });
    expect(report.answers).toEqual({ ACCEPTED: 2, RATE_LIMITED: 1, SOLD_OUT: 1 });
    expect(report.timeToSellOutMs).toBe(2100);
    expect(report.lastArrivalMs).toBe(20);
    expect(report.perSecond[1]).toEqual({ second: 1, answers: {}, p50Ms: null, p99Ms: null });
    expect(report.perSecond[0]?.p99Ms).toBeCloseTo(7, 1);
    expect(report.latencyMs.all.count).toBe(4);
    expect(summaryText(report)).toContain('TIME RAN OUT');
    expect(summaryText(report)).toContain('unfinished 1 (last told: RATE_LIMITED 1)');
  });

  test('a sale that did not sell out has no time to sell out', () => {
    const r = new Recorder();
    r.answer('ACCEPTED', 10, 1);
    const report = buildReport({ ...result(r), check: { ...check, liveUnits: 1 } }, run);
    expect(report.timeToSellOutMs).toBeNull();
  });
});

test('the HTML page embeds chart.js and the report, which reads back whole', () => {
  const report = buildReport(result(crowd()), run);
  const html = htmlReport(report);
  expect(html).toContain('Chart.js v4');
  const embedded = /<script type="application\/json" id="report">(.*?)<\/script>/s.exec(html)?.[1];
  expect(JSON.parse(embedded ?? '')).toEqual(JSON.parse(JSON.stringify(report)));
  expect(html).toContain('no oversell; Redis, PostgreSQL and the gate agree');
});
