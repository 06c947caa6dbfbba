/**
 * `flux-gate rehearse`: runs a rehearsal with the live display, writes its report
 * (`rehearsal.json`, `rehearsal.html`) and prints the summary. The exit code says how it went.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { showProgress } from './progress.js';
import { Recorder } from './recorder.js';
import { buildReport, htmlReport, summaryText } from './report.js';
import { rehearse, type RehearsalOptions } from './rehearse.js';

/** Exit codes of `flux-gate rehearse` (2 is a bad command line, as for every command). */
export const rehearsalExit = {
  /** Every buyer ended in time and the check found no oversell and no disagreement. */
  ok: 0,
  /** Oversold, or Redis, PostgreSQL and the gate disagree (or did not settle in time). */
  checkFailed: 1,
  /** Time ran out before every buyer had arrived and ended; the check passed. */
  timedOut: 3,
} as const;

/** Runs the rehearsal and writes its report into `outDir`; resolves with the exit code. */
export async function rehearsalCommand(options: RehearsalOptions, outDir: string): Promise<number> {
  const recorder = new Recorder();
  const stop = showProgress(recorder, options.buyers);
  let result;
  try {
    result = await rehearse(options, recorder);
  } finally {
    stop();
  }
  const report = buildReport(result, {
    gate: options.url,
    profile: options.profile,
    buyers: options.buyers,
    timeoutMs: options.timeoutMs,
  });
  await mkdir(outDir, { recursive: true });
  const json = join(outDir, 'rehearsal.json');
  const html = join(outDir, 'rehearsal.html');
  await writeFile(json, `${JSON.stringify(report, null, 2)}\n`);
  await writeFile(html, htmlReport(report));
  console.log(`${summaryText(report)}\nreport: ${json}, ${html}`);
  if (report.check.oversold || !report.check.agrees) return rehearsalExit.checkFailed;
  return report.timedOut ? rehearsalExit.timedOut : rehearsalExit.ok;
}
