/**
 * Where PlaceOrder's time goes inside a gate, read from what the gate exports on /metrics
 * (src/ops/metrics.ts) between two scrapes: the handler's latency (request read to answer),
 * the Redis script round trips, Kafka produce requests (one per batch of orders), the event
 * loop's delay and garbage collection. Set beside the latency a load generator saw, it tells
 * which stage a tail comes from: a handler p99 well under the client's means the time was spent
 * before the handler ran or after it answered (queued on the event loop or the socket).
 *
 * Quantiles come from histogram buckets (linear within a bucket), so they are as coarse as the
 * buckets: 0.5, 1, 2.5, 5, 10, 25, 50, 100 ms and up.
 */
import { sample, samples, sumSamples } from '../test/support/metrics.js';

/** Cumulative bucket counts of histogram `name` by upper bound, every series summed. */
function buckets(page: string, name: string): Map<number, number> {
  const counts = new Map<number, number>();
  for (const { labels, value } of samples(page, `${name}_bucket`)) {
    const le = labels.find((l) => l.startsWith('le='))?.slice(4, -1);
    if (le === undefined) continue;
    const bound = le === '+Inf' ? Infinity : Number(le);
    counts.set(bound, (counts.get(bound) ?? 0) + value);
  }
  return counts;
}

/**
 * Quantile `q` (0–1), in ms, of the observations histogram `name` (in seconds) gained from page
 * `before` to page `after`; NaN when it gained none, the largest finite bound when the quantile
 * lies beyond it.
 */
export function quantileMs(before: string, after: string, name: string, q: number): number {
  const from = buckets(before, name);
  const gained = [...buckets(after, name)]
    .map(([bound, count]) => [bound, count - (from.get(bound) ?? 0)] as const)
    .sort((a, b) => a[0] - b[0]);
  const total = gained.at(-1)?.[1] ?? 0;
  if (total <= 0) return NaN;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const [bound, count] of gained) {
    if (count >= rank) {
      if (bound === Infinity) return lower * 1000;
      const share = count === below ? 0 : (rank - below) / (count - below);
      return (lower + (bound - lower) * share) * 1000;
    }
    [lower, below] = [bound, count];
  }
  return NaN;
}

const ms = (x: number) => (Number.isNaN(x) ? '-' : x.toFixed(1));

/**
 * One line of the gate's stages between two scrapes taken `seconds` apart. The event loop's
 * figures are the window's own (the process's metrics reset them at every scrape): the time
 * between ticks of a 10 ms timer, so 10 ms on an idle loop and more when work held it up.
 */
export function stagesLine(before: string, after: string, seconds: number): string {
  const pair = (name: string) =>
    `${ms(quantileMs(before, after, name, 0.5))} / ${ms(quantileMs(before, after, name, 0.99))}`;
  const delta = (name: string, labels: Record<string, string> = {}) =>
    sumSamples(after, name, labels) - sumSamples(before, name, labels);
  const gcName = 'fluxgate_nodejs_gc_duration_seconds';
  const longGcs = delta(`${gcName}_count`) - gcCountUpTo(after, 0.01) + gcCountUpTo(before, 0.01);
  return (
    `    in the gate, p50 / p99 ms: handler ${pair('fluxgate_gate_place_order_seconds')}, ` +
    `Redis script ${pair('fluxgate_gate_redis_script_seconds')}, ` +
    `Kafka produce ${pair('fluxgate_gate_kafka_publish_seconds')}; ` +
    `event-loop tick p99 ${ms(sample(after, 'fluxgate_nodejs_eventloop_lag_p99_seconds') * 1000)}, ` +
    `max ${ms(sample(after, 'fluxgate_nodejs_eventloop_lag_max_seconds') * 1000)} (10 idle); ` +
    `GC ${ms((delta(`${gcName}_sum`) * 1000) / seconds)} ms/s ` +
    `(major ${ms((delta(`${gcName}_sum`, { kind: 'major' }) * 1000) / seconds)}), ` +
    `${String(longGcs)} pauses over 10 ms`
  );
}

/** Garbage collections of at most `seconds` so far, every kind. */
function gcCountUpTo(page: string, seconds: number): number {
  return buckets(page, 'fluxgate_nodejs_gc_duration_seconds').get(seconds) ?? 0;
}
