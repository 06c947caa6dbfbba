/**
 * The live view of a running rehearsal: a few lines redrawn four times a second on a terminal
 * (log-update), or one plain line a second when the output is a file or a pipe.
 */
import { createLogUpdate } from 'log-update';
import { accepted, percentiles, type Recorder } from './recorder.js';

/** Starts showing `recorder` on `stream`; returns the function that stops (and leaves the last view). */
export function showProgress(
  recorder: Recorder,
  buyers: number,
  stream: NodeJS.WriteStream = process.stdout,
): () => void {
  const t0 = performance.now();
  const refusals = () =>
    [...recorder.answers]
      .filter(([k]) => k !== accepted)
      .sort((a, b) => b[1] - a[1])
      .map(([k, n]) => `${k} ${String(n)}`)
      .join(', ') || 'none';
  const view = () => {
    const now = performance.now() - t0;
    const p = percentiles(recorder.latency);
    const left = recorder.unitsLeft === undefined ? '?' : String(recorder.unitsLeft);
    return [
      `${(now / 1000).toFixed(1)} s  units left ${left}  accepted ${String(recorder.acceptedBuyers)}  buyers arrived ${String(recorder.arrived)}/${String(buyers)}, done ${String(recorder.ended)}`,
      `  refusals ${refusals()}`,
      `  ${String(recorder.rateAt(now))} answers/s  p50 ${String(p.p50)} ms  p99 ${String(p.p99)} ms`,
    ];
  };
  if (stream.isTTY) {
    const draw = createLogUpdate(stream);
    const timer = setInterval(() => {
      draw(view().join('\n'));
    }, 250);
    return () => {
      clearInterval(timer);
      draw(view().join('\n'));
      draw.done();
    };
  }
  const timer = setInterval(() => {
    stream.write(`${view().join(' ')}\n`);
  }, 1000);
  return () => {
    clearInterval(timer);
  };
}
