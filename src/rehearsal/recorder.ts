/**
 * What a rehearsal has seen so far: every answer the gate gave (by outcome, by second, with its
 * latency in an HDR histogram) and how each buyer ended. The live display reads it a few times
 * a second; the report is built from it at the end.
 */
import { build, type Histogram } from 'hdr-histogram-js';

/** The outcome of an answer that accepted an order. */
export const accepted = 'ACCEPTED';

/** How one buyer ended. */
export type BuyerEnd =
  | { readonly kind: 'accepted' }
  /** A final refusal: the reason (SOLD_OUT, PURCHASE_LIMIT_REACHED...). */
  | { readonly kind: 'refused'; readonly reason: string }
  /** Still trying when the rehearsal's time ran out; the last answer's reason, if any. */
  | { readonly kind: 'unfinished'; readonly lastReason: string | undefined };

/** One second of the rehearsal: answers by outcome and their latencies. */
export interface Second {
  readonly answers: Map<string, number>;
  readonly latency: Histogram;
}

/** Latency percentiles, ms. */
export interface Percentiles {
  readonly count: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
}

// Microseconds up to two minutes: longer than any attempt's deadline.
const histogram = (digits: 2 | 3) =>
  build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 120_000_000,
    numberOfSignificantValueDigits: digits,
  });

/** Reads percentiles (ms) from a histogram of µs. */
export function percentiles(h: Histogram): Percentiles {
  // Tenths of a ms: as fine as a reader needs.
  const ms = (us: number) => Math.round(us / 100) / 10;
  return {
    count: h.totalCount,
    p50: ms(h.getValueAtPercentile(50)),
    p90: ms(h.getValueAtPercentile(90)),
    p99: ms(h.getValueAtPercentile(99)),
    max: ms(h.maxValue),
  };
}

/** Counts and latencies of one rehearsal, all times ms since its start. */
export class Recorder {
  /** Every answer's latency. */
  readonly latency = histogram(3);
  /** Latency of the answers that accepted an order. */
  readonly acceptLatency = histogram(3);
  /** Answers by outcome ({@link accepted} or the refusal reason), retried refusals included. */
  readonly answers = new Map<string, number>();
  /** Per second since the start, by when the answer arrived. */
  readonly seconds: Second[] = [];
  /** Buyers by how they ended. */
  readonly ends = new Map<string, number>();
  /** Unfinished buyers by the last answer they had (`none` when they had none). */
  readonly unfinishedLast = new Map<string, number>();
  /** Buyers arrived so far, and ended so far. */
  arrived = 0;
  ended = 0;
  /**
   * When the last buyer so far arrived, ms. Later than the profile says when the rehearsing
   * machine cannot start buyers as fast as they come (CPU).
   */
  lastArrivalMs = 0;
  /** Units accepted for this rehearsal's buyers. */
  acceptedBuyers = 0;
  /** When the last accepted answer arrived, ms. */
  lastAcceptMs: number | undefined;
  /** When the rehearsal first learned the sale was sold out, ms. */
  soldOutMs: number | undefined;
  /** Units left, as the sale's stock stream last said. */
  unitsLeft: number | undefined;

  /** Records one answer of the gate: its outcome, when it arrived and how long it took. */
  answer(outcome: string, atMs: number, latencyMs: number): void {
    const us = Math.max(1, Math.round(latencyMs * 1000));
    this.latency.recordValue(us);
    this.answers.set(outcome, (this.answers.get(outcome) ?? 0) + 1);
    const index = Math.max(0, Math.floor(atMs / 1000));
    while (this.seconds.length <= index)
      this.seconds.push({ answers: new Map(), latency: histogram(2) });
    const second = this.seconds[index];
    if (second !== undefined) {
      second.answers.set(outcome, (second.answers.get(outcome) ?? 0) + 1);
      second.latency.recordValue(us);
    }
    if (outcome === accepted) {
      this.acceptLatency.recordValue(us);
      this.lastAcceptMs = Math.max(this.lastAcceptMs ?? 0, atMs);
    }
    if (outcome === 'SOLD_OUT') this.soldOut(atMs);
  }

  /** Notes that the sale is sold out (a SOLD_OUT answer or the stock stream at zero). */
  soldOut(atMs: number): void {
    this.soldOutMs ??= atMs;
  }

  /** Records how one buyer ended. */
  end(end: BuyerEnd): void {
    this.ended++;
    if (end.kind === 'accepted') this.acceptedBuyers++;
    const key = endKey(end);
    this.ends.set(key, (this.ends.get(key) ?? 0) + 1);
    if (end.kind === 'unfinished') {
      const last = end.lastReason ?? 'none';
      this.unfinishedLast.set(last, (this.unfinishedLast.get(last) ?? 0) + 1);
    }
  }

  /** Answers per second over the last full second before `nowMs`. */
  rateAt(nowMs: number): number {
    const second = this.seconds[Math.floor(nowMs / 1000) - 1];
    if (second === undefined) return 0;
    let n = 0;
    for (const count of second.answers.values()) n += count;
    return n;
  }
}

/** The key a buyer's end is counted under: `accepted`, the refusal reason, or `unfinished`. */
export function endKey(end: BuyerEnd): string {
  switch (end.kind) {
    case 'accepted':
      return accepted;
    case 'refused':
      return end.reason;
    case 'unfinished':
      return 'UNFINISHED';
  }
}
