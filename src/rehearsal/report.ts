/**
 * A rehearsal's report: one JSON document, the same as a self-contained HTML page with charts
 * (chart.js, inlined from node_modules so the page opens anywhere offline), and the summary
 * printed at the end of a run.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { formatProfile, type Profile } from './profiles.js';
import { accepted, percentiles, type Percentiles } from './recorder.js';
import type { RehearsalResult, SaleCheck } from './rehearse.js';

/** The report's JSON form (`rehearsal.json`). */
export interface RehearsalReport {
  /** The form of this document; raised when a field changes meaning. */
  readonly version: 1;
  readonly gate: string;
  readonly sku: string;
  readonly createdSale: boolean;
  readonly startedAt: string;
  readonly profile: string;
  readonly buyers: number;
  readonly timeoutMs: number;
  readonly durationMs: number;
  /** When the last buyer arrived, ms from the start (the profile's pace, if this machine kept up). */
  readonly lastArrivalMs: number;
  readonly timedOut: boolean;
  /** From the start to the answer that accepted the last unit, ms; null when not sold out. */
  readonly timeToSellOutMs: number | null;
  /** How the buyers ended: accepted, refused by final reason, unfinished, never arrived. */
  readonly outcome: {
    readonly arrived: number;
    readonly accepted: number;
    readonly refused: Readonly<Record<string, number>>;
    readonly unfinished: number;
    /** The unfinished buyers by the last answer they had (`none`: no answer yet). */
    readonly unfinishedLastAnswer: Readonly<Record<string, number>>;
    readonly notArrived: number;
  };
  /** Every answer of the gate by outcome (ACCEPTED or the refusal reason), retries included. */
  readonly answers: Readonly<Record<string, number>>;
  /** Latency of the gate's answers, ms: all of them, and those that accepted an order. */
  readonly latencyMs: { readonly all: Percentiles; readonly accepted: Percentiles };
  /** Second by second from the start: answers by outcome, and their latency. */
  readonly perSecond: readonly {
    readonly second: number;
    readonly answers: Readonly<Record<string, number>>;
    /** Null for a second without answers. */
    readonly p50Ms: number | null;
    readonly p99Ms: number | null;
  }[];
  /** The oversell check through AdminService (Reconcile and GetSaleStats). */
  readonly check: SaleCheck;
}

/** Builds the report of a finished rehearsal. */
export function buildReport(
  result: RehearsalResult,
  run: {
    readonly gate: string;
    readonly profile: Profile;
    readonly buyers: number;
    readonly timeoutMs: number;
  },
): RehearsalReport {
  const r = result.recorder;
  const refused: Record<string, number> = {};
  for (const [key, n] of r.ends) if (key !== accepted && key !== 'UNFINISHED') refused[key] = n;
  const soldOut = result.check.liveUnits === 0 || r.soldOutMs !== undefined;
  return {
    version: 1,
    gate: run.gate,
    sku: result.sku,
    createdSale: result.createdSale,
    startedAt: new Date(result.startedAtMs).toISOString(),
    profile: formatProfile(run.profile),
    buyers: run.buyers,
    timeoutMs: run.timeoutMs,
    durationMs: Math.round(result.durationMs),
    lastArrivalMs: Math.round(r.lastArrivalMs),
    timedOut: result.timedOut,
    timeToSellOutMs: soldOut && r.lastAcceptMs !== undefined ? Math.round(r.lastAcceptMs) : null,
    outcome: {
      arrived: r.arrived,
      accepted: r.acceptedBuyers,
      refused,
      unfinished: r.ends.get('UNFINISHED') ?? 0,
      unfinishedLastAnswer: Object.fromEntries(r.unfinishedLast),
      notArrived: run.buyers - r.arrived,
    },
    answers: Object.fromEntries(r.answers),
    latencyMs: { all: percentiles(r.latency), accepted: percentiles(r.acceptLatency) },
    perSecond: r.seconds.map((s, second) => {
      const p = percentiles(s.latency);
      const answered = p.count > 0;
      return {
        second,
        answers: Object.fromEntries(s.answers),
        p50Ms: answered ? p.p50 : null,
        p99Ms: answered ? p.p99 : null,
      };
    }),
    check: result.check,
  };
}

const seconds = (ms: number | null) => (ms === null ? '-' : `${(ms / 1000).toFixed(2)} s`);
const byCount = (counts: Readonly<Record<string, number>>) =>
  Object.entries(counts)
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${k} ${String(n)}`)
    .join(', ') || 'none';

/** What the unfinished buyers were last told, when there are any. */
const unfinishedNote = (o: RehearsalReport['outcome']) =>
  o.unfinished === 0 ? '' : ` (last told: ${byCount(o.unfinishedLastAnswer)})`;

/** p50 and p99 (and max) of some answers, or `none` when there were none. */
const latencyLine = (p: Percentiles, withMax: boolean) =>
  p.count === 0
    ? 'none'
    : `p50 ${String(p.p50)} ms, p99 ${String(p.p99)} ms${withMax ? `, max ${String(p.max)} ms` : ''}`;

/** The verdict of the oversell check, one line. */
export function verdict(check: SaleCheck): string {
  if (check.oversold) return 'OVERSOLD';
  if (!check.settled) return 'not settled (orders still being recorded)';
  return check.agrees
    ? 'no oversell; Redis, PostgreSQL and the gate agree'
    : 'no oversell, but the counts disagree';
}

/** The summary a run prints at its end (and the README quotes). */
export function summaryText(report: RehearsalReport): string {
  const c = report.check;
  const o = report.outcome;
  const l = report.latencyMs;
  return [
    `rehearsal of ${String(report.buyers)} buyers (${report.profile}) on ${report.sku}, ${String(c.totalStock)} units, against ${report.gate}`,
    `  time to sell out  ${seconds(report.timeToSellOutMs)}   (whole run ${seconds(report.durationMs)}, last arrival at ${seconds(report.lastArrivalMs)}${report.timedOut ? ', TIME RAN OUT' : ''})`,
    `  buyers            accepted ${String(o.accepted)}; refused ${byCount(o.refused)}; unfinished ${String(o.unfinished)}${unfinishedNote(o)}; not arrived ${String(o.notArrived)}`,
    `  answers           ${byCount(report.answers)}`,
    `  latency           ${latencyLine(l.all, true)}; accepted ${latencyLine(l.accepted, false)}`,
    `  oversell check    ${verdict(c)}`,
    `                    sold: Redis ${String(c.soldInRedis)}, PostgreSQL ${String(c.soldInDatabase)}, in flight ${String(c.inFlightUnits)}, drift ${String(c.drift)}; gate counters accepted ${String(c.stats.accepted)}, confirmed ${String(c.stats.confirmed)}, rejected ${String(c.stats.rejected)}`,
  ].join('\n');
}

/** chart.js's browser bundle, as shipped in its package. */
function chartBundle(): string {
  const main = createRequire(import.meta.url).resolve('chart.js');
  return readFileSync(join(dirname(main), 'chart.umd.min.js'), 'utf8');
}

/** JSON safe inside a <script> element. */
const scriptJson = (value: unknown) => JSON.stringify(value).replace(/</g, '\\u003c');

const escapeHtml = (text: string) =>
  text.replace(
    /[&<>"]/g,
    (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[ch] ?? ch,
  );

/** The report as one self-contained HTML page: summary table, and charts drawn by chart.js. */
export function htmlReport(report: RehearsalReport): string {
  const c = report.check;
  const o = report.outcome;
  const rows: [string, string][] = [
    ['gate', report.gate],
    [
      'sale',
      `${report.sku} (${report.createdSale ? 'created for this rehearsal' : 'existing'}), ${String(c.totalStock)} units`,
    ],
    ['crowd', `${String(report.buyers)} buyers, ${report.profile}, started ${report.startedAt}`],
    ['time to sell out', seconds(report.timeToSellOutMs)],
    [
      'whole run',
      `${seconds(report.durationMs)}, last arrival at ${seconds(report.lastArrivalMs)}${report.timedOut ? ' — time ran out' : ''}`,
    ],
    ['accepted', String(o.accepted)],
    ['refused', byCount(o.refused)],
    [
      'unfinished / not arrived',
      `${String(o.unfinished)}${unfinishedNote(o)} / ${String(o.notArrived)}`,
    ],
    [
      'latency, all answers',
      report.latencyMs.all.count === 0
        ? 'none'
        : `p50 ${String(report.latencyMs.all.p50)} ms, p90 ${String(report.latencyMs.all.p90)} ms, p99 ${String(report.latencyMs.all.p99)} ms, max ${String(report.latencyMs.all.max)} ms`,
    ],
    ['latency, accepted', latencyLine(report.latencyMs.accepted, false)],
    ['oversell check', verdict(c)],
    [
      'units sold',
      `Redis ${String(c.soldInRedis)}, PostgreSQL ${String(c.soldInDatabase)}, in flight ${String(c.inFlightUnits)}, drift ${String(c.drift)}`,
    ],
    [
      'gate counters',
      `accepted ${String(c.stats.accepted)}, confirmed ${String(c.stats.confirmed)}, rejected ${String(c.stats.rejected)}, pending ${String(c.stats.pending)}`,
    ],
  ];
  const table = rows
    .map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`)
    .join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Rehearsal ${escapeHtml(report.sku)}</title>
<style>
  body { font: 14px system-ui, sans-serif; margin: 24px; color: #222; max-width: 1100px; }
  table { border-collapse: collapse; margin-bottom: 24px; }
  th, td { text-align: left; padding: 4px 12px; border-bottom: 1px solid #ddd; }
  th { font-weight: 600; white-space: nowrap; }
  .ok { color: #1a7f37; } .bad { color: #cf222e; }
  .charts { display: grid; grid-template-columns: 1fr 1fr; gap: 24px; }
</style>
</head>
<body>
<h1>Rehearsal of ${escapeHtml(report.sku)}</h1>
<p class="${c.oversold || !c.agrees ? 'bad' : 'ok'}"><strong>${escapeHtml(verdict(c))}</strong></p>
<table>
${table}
</table>
<div class="charts">
  <div><h2>Answers per second</h2><canvas id="answers"></canvas></div>
  <div><h2>Latency per second (ms)</h2><canvas id="latency"></canvas></div>
</div>
<script type="application/json" id="report">${scriptJson(report)}</script>
<script>${chartBundle()}</script>
<script>
  const report = JSON.parse(document.getElementById('report').textContent);
  const labels = report.perSecond.map((s) => s.second + 's');
  const outcomes = [...new Set(report.perSecond.flatMap((s) => Object.keys(s.answers)))];
  // Fixed colours for the usual outcomes, so pages compare at a glance; others by a hue walk.
  const fixed = { ACCEPTED: '#1a7f37', SOLD_OUT: '#8c959f', RATE_LIMITED: '#d4a72c', GATE_OVERLOADED: '#cf222e' };
  const colour = (o, i) => fixed[o] ?? 'hsl(' + ((i * 137 + 200) % 360) + ', 60%, 50%)';
  new Chart(document.getElementById('answers'), {
    type: 'bar',
    data: {
      labels,
      datasets: outcomes.map((o, i) => ({
        label: o,
        data: report.perSecond.map((s) => s.answers[o] ?? 0),
        backgroundColor: colour(o, i),
      })),
    },
    options: { animation: false, scales: { x: { stacked: true }, y: { stacked: true, title: { display: true, text: 'answers' } } } },
  });
  new Chart(document.getElementById('latency'), {
    type: 'line',
    data: {
      labels,
      datasets: [
        { label: 'p50', data: report.perSecond.map((s) => s.p50Ms), borderColor: '#0969da' },
        { label: 'p99', data: report.perSecond.map((s) => s.p99Ms), borderColor: '#cf222e' },
      ],
    },
    options: { animation: false, scales: { y: { beginAtZero: true, title: { display: true, text: 'ms' } } } },
  });
</script>
</body>
</html>
`;
}
