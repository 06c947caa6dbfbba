/**
 * A sale's live figures for the console (AdminService.WatchSaleStats): one read per watched
 * sale per interval at this gate, shared by every watcher of the sale, so any number of open
 * consoles cost the stores what one costs. Rates come from the counters' change between two
 * reads of that shared poll.
 */
import type { SaleStats } from './admin.js';
import type { StockView } from './stock.js';

/** A sale's figures as one read found them. */
export interface SaleFigures {
  readonly stats: SaleStats;
  readonly stock: StockView;
  /** Buyers holding a waiting-room ticket not yet called. */
  readonly queueLength: number;
  /** The wait of the last buyer in the queue at the sale's admission rate, ms. */
  readonly estimatedWaitMs: number;
  /** Accepted orders not yet acknowledged by Kafka (the sale's outbox). */
  readonly outboxDepth: number;
  /** Order events the worker's consumer group has not consumed (the whole topic); -1: unknown. */
  readonly consumerLag: number;
  readonly readAtMs: number;
}

/** A snapshot sent to watchers: the figures and the rates since the previous read. */
export interface SaleLiveStats extends SaleFigures {
  /** Orders accepted per second since the previous read (0 for the first). */
  readonly admissionRate: number;
  /** Orders refused (sold out, over the rate) per second since the previous read (0 for the first). */
  readonly refusalRate: number;
}

/** What a read of the figures is made of. */
export interface SaleFigureSources {
  readonly stats: (sku: string) => Promise<SaleStats>;
  readonly stock: (sku: string) => Promise<StockView>;
  /** The sale's waiting room: people waiting (issued minus called) and the admission rate. */
  readonly queue: (sku: string) => Promise<{ waiting: number; rate: number } | undefined>;
  readonly outboxDepth: (sku: string) => Promise<number>;
  /** The worker group's lag; read at most once per `lagMaxAgeMs` (it covers every sale). */
  readonly consumerLag: () => Promise<number>;
  readonly now: () => number;
}

/**
 * `read`, called at most once per `maxAgeMs`: callers within that time share its answer (a
 * failed read is not kept).
 */
export function sharedFor<T>(
  maxAgeMs: number,
  now: () => number,
  read: () => Promise<T>,
): () => Promise<T> {
  let last: { atMs: number; value: Promise<T> } | undefined;
  return () => {
    const atMs = now();
    if (last === undefined || atMs - last.atMs >= maxAgeMs) {
      const value = read();
      const entry = { atMs, value };
      last = entry;
      value.catch(() => {
        if (last === entry) last = undefined;
      });
    }
    return last.value;
  };
}

/** One read of a sale's figures from `sources` (the lag shared across sales for `lagMaxAgeMs`). */
export function createFigureReader(
  sources: SaleFigureSources,
  lagMaxAgeMs: number,
): (sku: string) => Promise<SaleFigures> {
  const lag = sharedFor(lagMaxAgeMs, sources.now, sources.consumerLag);
  return async (sku) => {
    // Stock first: it refuses an unknown sale before the other reads are spent.
    const stock = await sources.stock(sku);
    const [stats, queue, outboxDepth, consumerLag] = await Promise.all([
      sources.stats(sku),
      sources.queue(sku),
      sources.outboxDepth(sku),
      // Kafka down must not hide the rest: an operator looks at the console during outages.
      lag().catch(() => -1),
    ]);
    const waiting = queue?.waiting ?? 0;
    const rate = queue?.rate ?? 0;
    return {
      stats,
      stock,
      queueLength: waiting,
      estimatedWaitMs: waiting > 0 && rate > 0 ? Math.ceil((waiting / rate) * 1000) : 0,
      outboxDepth,
      consumerLag,
      readAtMs: sources.now(),
    };
  };
}

/** Orders refused for the sale's stock or rate, the refusals the figures count. */
const refusals = (stats: SaleStats) => stats.soldOut + stats.rateLimited;

/** `figures` with the rates since `previous` (none: the first read). */
export function withRates(figures: SaleFigures, previous: SaleFigures | undefined): SaleLiveStats {
  const seconds = previous === undefined ? 0 : (figures.readAtMs - previous.readAtMs) / 1000;
  if (previous === undefined || seconds <= 0) {
    return { ...figures, admissionRate: 0, refusalRate: 0 };
  }
  return {
    ...figures,
    admissionRate: Math.max(0, figures.stats.accepted - previous.stats.accepted) / seconds,
    refusalRate: Math.max(0, refusals(figures.stats) - refusals(previous.stats)) / seconds,
  };
}

/** Tuning. */
export interface SaleWatchOptions {
  /** How often a sale with watchers is read, ms. */
  readonly pollMs: number;
  /** A read that failed after the sale's first one (its watchers keep the last figures). */
  readonly onError?: (error: unknown, sku: string) => void;
}

/** What a poll hands its watchers: the latest snapshot, or why the first read failed. */
type Update = { readonly stats: SaleLiveStats } | { readonly error: unknown };

/** One sale read for its watchers. */
interface Poll {
  readonly listeners: Set<(update: Update) => void>;
  latest: SaleLiveStats | undefined;
  timer: NodeJS.Timeout | undefined;
}

/** Watch sales' live figures at one gate. */
export class SaleWatch {
  private readonly polls = new Map<string, Poll>();

  constructor(
    private readonly read: (sku: string) => Promise<SaleFigures>,
    private readonly options: SaleWatchOptions,
  ) {}

  /**
   * The sale's figures: the poll's latest at once (a first read when nobody watched the sale),
   * then every later read, until `signal`. A first read that fails ends the watch with its
   * error (an unknown sale); later failures are reported to `onError` and skipped.
   */
  async *watch(sku: string, signal: AbortSignal): AsyncGenerator<SaleLiveStats> {
    let pending: Update | undefined;
    let wake: (() => void) | undefined;
    const stop = this.listen(sku, (update) => {
      pending = update;
      wake?.();
    });
    // Leaves the poll as soon as the call is cancelled: the generator may be suspended at a
    // yield, and end only when the transport gives up on the write.
    const aborted = () => {
      stop();
      wake?.();
    };
    signal.addEventListener('abort', aborted);
    try {
      while (!signal.aborted) {
        await new Promise<void>((resolve) => {
          wake = resolve;
          if (pending !== undefined || signal.aborted) resolve();
        });
        wake = undefined;
        const update = pending;
        pending = undefined;
        if (update === undefined) continue;
        if ('error' in update) throw update.error;
        yield update.stats;
      }
    } finally {
      signal.removeEventListener('abort', aborted);
      stop();
    }
  }

  /** Stops every poll (the gate is closing). */
  close(): void {
    for (const poll of this.polls.values()) clearTimeout(poll.timer);
    this.polls.clear();
  }

  private listen(sku: string, listener: (update: Update) => void): () => void {
    let poll = this.polls.get(sku);
    if (poll === undefined) {
      poll = { listeners: new Set(), latest: undefined, timer: undefined };
      this.polls.set(sku, poll);
      void this.poll(sku, poll);
    } else if (poll.latest !== undefined) {
      listener({ stats: poll.latest });
    }
    poll.listeners.add(listener);
    const owner = poll;
    // Called once or more (on abort and when the watch ends).
    return () => {
      owner.listeners.delete(listener);
      if (owner.listeners.size === 0 && this.polls.get(sku) === owner) {
        clearTimeout(owner.timer);
        this.polls.delete(sku);
      }
    };
  }

  private async poll(sku: string, poll: Poll): Promise<void> {
    try {
      const stats = withRates(await this.read(sku), poll.latest);
      poll.latest = stats;
      for (const listener of poll.listeners) listener({ stats });
    } catch (error) {
      if (poll.latest === undefined) {
        // Nothing to show yet: the watchers end with the error, and a next watcher reads anew.
        if (this.polls.get(sku) === poll) this.polls.delete(sku);
        for (const listener of poll.listeners) listener({ error });
        return;
      }
      this.options.onError?.(error, sku);
    }
    if (this.polls.get(sku) === poll)
      poll.timer = setTimeout(() => void this.poll(sku, poll), this.options.pollMs);
  }
}
