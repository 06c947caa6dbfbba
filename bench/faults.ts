/**
 * Fault benchmark (npm run bench:faults): the table of issue #20, measured from outside. For
 * each fault in turn, a fresh pair of gates and a worker (compiled, child processes) sell one
 * sale to eight buyers who retry every unknown outcome under the same idempotency key with a 2 s
 * deadline per attempt; the fault is injected after a few seconds of load, held, healed, and the
 * load goes on until the system has recovered (or 30 s). Prints one row per fault; asserts
 * nothing. It kills and freezes the stack's servers: run it against a stack of your own
 * (FLUXGATE_STACK_DIR and the port variables, scripts/stack-env.sh), never a shared one.
 *
 * BENCH_FAULTS=kafka-kill,redis-hang runs only those (names: test/support/fault-load.ts).
 */
import {
  audit,
  checkInvariants,
  faults,
  outcomeCounts,
  restoreStack,
  runFault,
  startFaultSystem,
  summarize,
  type Fault,
  type FaultName,
  type FaultSummary,
  type InvariantResult,
} from '../test/support/fault-load.js';
import { dropTestData } from '../test/support/stack.js';

const chosen = (process.env.BENCH_FAULTS ?? Object.keys(faults).join(','))
  .split(',')
  .filter(Boolean) as FaultName[];
for (const name of chosen) if (!(name in faults)) throw new Error(`unknown fault ${name}`);

const seconds = (ms: number | undefined) => (ms === undefined ? '—' : (ms / 1000).toFixed(1));

/** The non-ok answers, most frequent first: `unavailable DEPENDENCY_UNAVAILABLE ×190`. */
function answers(s: FaultSummary): string {
  const failures = s.answers.filter(([label]) => label !== 'ok');
  return failures.length === 0 ? 'all ok' : failures.map(([l, n]) => `${l} ×${n}`).join(', ');
}

/** Lost orders and the books: `0 lost` or what did not add up. */
function books(s: FaultSummary): string {
  const a = s.audit;
  const notes = [`${a.lost.length} lost`];
  if (a.splitKeys.length > 0) notes.push(`${a.splitKeys.length} keys with 2 ids`);
  if (a.duplicateRows > 0) notes.push(`${a.duplicateRows} duplicate rows`);
  if (s.openAfterSettle > 0) notes.push(`${s.openAfterSettle} never answered`);
  if (a.unanswered.length > 0) notes.push(`${a.unanswered.length} recorded, never acked`);
  if (a.unitsLive !== a.unitsRecorded)
    notes.push(`live counter ${a.unitsLive ?? 'missing'} vs recorded ${a.unitsRecorded}`);
  return notes.join(', ');
}

/** `all hold`, or each invariant that did not (I3 broken, I7 not checked). */
function invariants(results: readonly InvariantResult[]): string {
  const off = results.filter((r) => r.holds !== true);
  return off.length === 0
    ? 'all hold'
    : off.map((r) => `${r.id} ${r.holds === false ? 'broken' : 'not checked'}`).join(', ');
}

const rows: (FaultSummary & { invariants: string; outcomes: string })[] = [];
const began = Date.now();
for (const name of chosen) {
  const fault: Fault = faults[name];
  process.stderr.write(`[bench:faults] ${fault.label} …\n`);
  const system = await startFaultSystem({ sku: `BENCH-${name}`, ...fault.system });
  try {
    const run = await runFault(system, fault);
    const books = await audit(system, run);
    const o = outcomeCounts(run);
    rows.push({
      ...summarize(run, books),
      invariants: invariants(await checkInvariants(system, run, books)),
      outcomes: `${o.ok} / ${o.refused} / ${o.unknown}`,
    });
  } finally {
    await system.stop();
    await restoreStack();
    await dropTestData(system.config);
  }
}

const header = [
  'fault',
  'fault lasted s',
  'longest stretch with no order accepted s: in fault / overall',
  'accepted in fault',
  'answers other than ok (code reason ×n)',
  'retry-inviting with RetryInfo',
  'longest call minus deadline s',
  'heal → first accept s',
  'heal → full recovery s',
  'after draining',
  'ok / refused / unknown',
  'invariants I1–I7',
];
const lines = rows.map((s) => [
  s.fault,
  seconds(s.faultMs),
  `${seconds(s.longestGapDuringFaultMs)} / ${seconds(s.longestGapOverallMs)}`,
  String(s.acceptedDuringFault),
  answers(s),
  s.retryInviting === 0
    ? 'none sent'
    : `${s.retryInvitingWithDelay}/${s.retryInviting} (${Math.round((100 * s.retryInvitingWithDelay) / s.retryInviting)} %)`,
  `${s.worstOverrunMs >= 0 ? '+' : ''}${seconds(s.worstOverrunMs)} (${s.worstOverrunAnswer})`,
  seconds(s.firstAcceptAfterHealMs),
  s.fullRecoveryMs === undefined ? 'not within 30' : seconds(s.fullRecoveryMs),
  books(s),
  s.outcomes,
  s.invariants,
]);
console.log(`| ${header.join(' | ')} |`);
console.log(`|${header.map(() => '---').join('|')}|`);
for (const line of lines) console.log(`| ${line.join(' | ')} |`);
console.log(
  `\n${rows.length} faults in ${seconds(Date.now() - began)} s; 8 buyers, 2 s deadline per attempt, ` +
    'answers without RetryInfo retried after 250 ms. Full recovery = the latest of: first order ' +
    'accepted after the heal, last answer that was not ok, every order accepted before the heal ' +
    'recorded in PostgreSQL ("—"/none: not within 30 s of the heal).',
);
for (const s of rows) {
  console.log(
    `${s.fault}: ${s.attempts} attempts, ${s.acceptedAttempts} ok; ${s.overDeadline} over their ` +
      `deadline by > 0.5 s; heal → answers all ok ${seconds(s.answersHealthyAfterHealMs)} s, ` +
      `→ backlog recorded ${seconds(s.backlogRecordedAfterHealMs)} s; units accepted ` +
      `${s.audit.unitsAccepted}, recorded ${s.audit.unitsRecorded}, live counter ${s.audit.unitsLive ?? 'missing'}`,
  );
}
process.exit(0);
