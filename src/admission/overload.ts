/**
 * Overload shedding: whether this gate process takes one more order now, decided before the
 * order is read, so that a refused call costs a header write and changes nothing anywhere.
 *
 * Two limits, both configuration:
 * - orders in flight: a bound on orders being decided (read, their reservation not yet
 *   answered). Over HTTP/2 a crowd can open any number of streams; the bound keeps the queue
 *   inside the process, and with it the accepted orders' latency, finite. An accepted order
 *   waiting for Kafka's acknowledgement is not counted: that wait is the broker's, and bounding
 *   it capped throughput at the bound divided by the acknowledgement's latency (measured: 64
 *   orders over a 130 ms acknowledgement let 500 orders/s through a gate good for 2,000). Calls
 *   whose headers arrive in the same turn of the event loop are all checked before any of them
 *   is counted, so the bound can be passed by that many.
 * - event-loop delay: over HTTP/1.1 the queue is in the clients' connections, out of the
 *   gate's sight, and what it sees is its own event loop running late. While the mean delay of a
 *   sampling window is over the limit, the share of calls admitted halves each window; while it
 *   is under, it grows back by a tenth. Refusing part of the calls (not all) keeps the gate busy
 *   with the orders it can finish, instead of swinging between idle and overrun.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';

/** The limits, from configuration. */
export interface OverloadLimits {
  /** Most orders being decided at once. */
  readonly maxInFlight: number;
  /** Mean event-loop delay over a sampling window past which admission is cut; 0: not watched. */
  readonly maxEventLoopDelayMs: number;
}

/** The smallest share of calls admitted while the loop runs late: some orders always get in. */
const minShare = 1 / 32;
/** Growth of the admitted share per window on time. */
const shareStep = 0.1;

/** Decides admission; see the file comment. */
export class OverloadGuard {
  private inFlight = 0;
  private share = 1;

  constructor(
    private readonly limits: OverloadLimits,
    private readonly random: () => number = Math.random,
  ) {}

  /**
   * Whether a call that has just arrived may go on (false: refuse it without reading it). It
   * counts only from {@link enter}, once its order is being decided: a client that sends its
   * body slowly holds no place meanwhile.
   */
  admits(): boolean {
    if (this.inFlight >= this.limits.maxInFlight) return false;
    return this.share >= 1 || this.random() < this.share;
  }

  /** An admitted order's decision has started: it is in flight until {@link leave}. */
  enter(): void {
    this.inFlight++;
  }

  /** An order's reservation was answered (reserved or refused, or it failed). */
  leave(): void {
    this.inFlight--;
  }

  /** Takes one sampling window's mean event-loop delay into account. */
  observeDelay(delayMs: number): void {
    const { maxEventLoopDelayMs } = this.limits;
    if (maxEventLoopDelayMs <= 0) return;
    this.share =
      delayMs > maxEventLoopDelayMs
        ? Math.max(minShare, this.share / 2)
        : Math.min(1, this.share + shareStep);
  }

  /** What the guard sees now (for metrics and tests). */
  state(): { readonly inFlight: number; readonly admittedShare: number } {
    return { inFlight: this.inFlight, admittedShare: this.share };
  }
}

/** The histogram's sampling timer: each sample is the time between two of its ticks. */
const resolutionMs = 10;

/**
 * Feeds `guard` the event loop's mean delay every `windowMs`; returns the function that stops.
 * Does nothing when the delay is not watched.
 */
export function watchEventLoop(
  guard: OverloadGuard,
  maxEventLoopDelayMs: number,
  windowMs = 100,
): () => void {
  if (maxEventLoopDelayMs <= 0) return () => undefined;
  const histogram = monitorEventLoopDelay({ resolution: resolutionMs });
  histogram.enable();
  const timer = setInterval(() => {
    // A window without a sample (its tick still due) says nothing; the next one will.
    if (histogram.count === 0) return;
    const delayMs = histogram.mean / 1e6 - resolutionMs;
    histogram.reset();
    guard.observeDelay(delayMs);
  }, windowMs).unref();
  return () => {
    clearInterval(timer);
    histogram.disable();
  };
}
