/**
 * Admission decided at the edge: while a sale is hot (its admission bucket ran dry at this
 * gate), the gate takes the sale's admission tokens from Redis in leases of many at once and
 * refuses a request over the rate, or for a paused or not yet open sale, from its own memory,
 * without a Redis round trip. A quiet sale needs no lease: its requests take their token inside
 * the reservation script, as they always did.
 *
 * Every token a gate spends came out of the sale's one bucket, so however many gates run, the
 * orders admitted in any interval of length t are at most burst + rate·(t + lease lifetime):
 * the bucket's own bound, plus the tokens leased just before the interval and spent in it.
 *
 * Only passing refusals are decided here (RATE_LIMITED, SALE_PAUSED, SALE_NOT_OPEN): they are
 * never stored against an idempotency key, so a retry of an order that was accepted still gets
 * its answer once it is let through. Final refusals (sold out, ended) are decided apart, by the
 * sale's flags and its accepted keys (accepted-keys.ts), which let a retry of an accepted order
 * through to its answer.
 */
import { Refusal } from '../domain/refusal.js';

/** A sale's state and some of its tokens, as one lease call leaves them. */
export interface LeaseGrant {
  /** Tokens taken from the sale's bucket for this gate (0 when it is dry or the sale closed). */
  readonly granted: number;
  /** Until the bucket has its next token, ms (0 when it has one). */
  readonly waitMs: number;
  /** Redis's clock when it answered, ms since the epoch. */
  readonly nowMs: number;
  readonly startsAtMs: number;
  readonly endsAtMs: number;
  readonly paused: boolean;
  /** The sale's admission rate, tokens per second, and its burst. */
  readonly rate: number;
  readonly burst: number;
  /** The sale's queue: the highest position called (src/queue/). */
  readonly nowServing: number;
  /** The sale queues its early arrivals for a draw: a not-yet-open refusal says so. */
  readonly lottery: boolean;
}

/** Where leases come from: the sale's admission bucket. */
export interface LeaseSource {
  /**
   * Takes up to `wanted` tokens from the sale's bucket, and adds `refused` (requests this gate
   * refused for the rate since its last call) to the sale's statistics. Undefined when the sale
   * is not in the live store.
   */
  lease(sku: string, wanted: number, refused: number): Promise<LeaseGrant | undefined>;
}

/** The refusals decided here: passing ones, never stored against a key. */
const edgeReasons = ['RATE_LIMITED', 'SALE_PAUSED', 'SALE_NOT_OPEN'] as const;
type EdgeReason = (typeof edgeReasons)[number];

/**
 * What to do with one order: `leased` (a token of this gate's lease is spent: the script must
 * not take one), `bucket` (the script takes its token from the bucket), or a refusal.
 */
export type EdgeVerdict = 'leased' | 'bucket' | Refusal;

/** Tuning; the defaults are the gate's. */
export interface EdgeAdmissionOptions {
  /** Shortest time between two lease calls of this gate for one sale, ms (0: no leases at all). */
  readonly leaseMs: number;
  readonly now?: () => number;
  /** Told about a lease call that failed (the sale goes back to the script's bucket meanwhile). */
  readonly onError?: (error: unknown, sku: string) => void;
  /** Told each lease reply (the sale's state and queue, fresh from Redis). */
  readonly onGrant?: (sku: string, grant: LeaseGrant) => void;
}

/** Counters for metrics. */
export interface EdgeAdmissionCounts {
  /** Sales in lease mode now. */
  readonly hotSales: number;
  /** Lease calls made, and tokens they brought. */
  readonly leaseCalls: number;
  readonly tokensLeased: number;
  /** Requests refused here, by reason. */
  readonly refused: Readonly<Record<EdgeReason, number>>;
}

/**
 * Each lease call should bring this many tokens when the sale is flooded (fewer if its burst is
 * smaller): it bounds a gate's lease calls for one sale at rate/16 per second, so under a flood
 * of ten times the rate a refused request costs Redis 1/144 of a call per gate.
 */
const tokensPerCall = 16;

/** Tokens of one lease, and when they lapse (local clock). */
interface Lease {
  tokens: number;
  readonly lapsesAt: number;
}

/** One hot sale at this gate. */
interface HotSale {
  /** Leases with tokens left, oldest first (spent first). */
  leases: Lease[];
  /** The last lease reply, its local receipt time, and Redis's clock minus ours then. */
  grant: LeaseGrant | undefined;
  clockOffsetMs: number;
  /** When the last call was made; whether one is under way. */
  calledAt: number;
  calling: boolean;
  /** Requests for the sale since `demandSince` (this gate's demand, for the lease size). */
  demand: number;
  demandSince: number;
  /** Requests refused for the rate since the last call (reported with the next one). */
  unreported: number;
  /** The sale goes back to the script's bucket once it has seen no rate refusal until then. */
  hotUntil: number;
  /** Wait the script asked for when it made the sale hot, until the first lease reply. */
  firstWaitMs: number;
  /**
   * Whether the bucket is known dry: the last lease call brought fewer tokens than asked or
   * left none, or the script has since refused an order for the rate. Only then does running
   * out of leased tokens mean the sale is over its rate: otherwise the lease was merely small,
   * and the order goes to the script's bucket.
   */
  dry: boolean;
}

/** Per gate process: the lease mode of each hot sale. */
export class EdgeAdmission {
  private readonly sales = new Map<string, HotSale>();
  private readonly now: () => number;
  private leaseCalls = 0;
  private tokensLeased = 0;
  private readonly refused = { RATE_LIMITED: 0, SALE_PAUSED: 0, SALE_NOT_OPEN: 0 };

  constructor(
    private readonly source: LeaseSource,
    private readonly options: EdgeAdmissionOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  /** The verdict for one order for `sku`; synchronous, so a refusal costs no I/O at all. */
  admit(sku: string): EdgeVerdict {
    const sale = this.sales.get(sku);
    if (sale === undefined) return 'bucket';
    const now = this.now();
    if (now >= sale.hotUntil && !sale.calling) {
      // Cooled down: unspent tokens lapse with the lease (they left the bucket already).
      this.sales.delete(sku);
      return 'bucket';
    }
    sale.demand++;
    const { grant } = sale;
    if (grant !== undefined) {
      const redisNow = now + sale.clockOffsetMs;
      if (grant.paused) return this.refuse(sku, sale, 'SALE_PAUSED', 'the sale is paused');
      if (redisNow < grant.startsAtMs)
        return this.refuse(sku, sale, 'SALE_NOT_OPEN', 'the sale has not started', {
          startsAtMs: grant.startsAtMs,
          ...(grant.lottery ? { lottery: true } : {}),
        });
      // Ended: the script's answer, which is stored against the key.
      if (redisNow >= grant.endsAtMs) return 'bucket';
    }
    if (this.spend(sale, now)) {
      this.renewAhead(sku, sale, now);
      return 'leased';
    }
    this.renewAhead(sku, sale, now);
    if (!sale.dry) return 'bucket';
    sale.unreported++;
    sale.hotUntil = now + this.coolMs(sale);
    return this.refuse(sku, sale, 'RATE_LIMITED', 'too many orders right now; wait for your turn', {
      retryAfterMs: this.retryAfterMs(sale, now),
    });
  }

  /**
   * The script refused an order of `sku` for a reason that says the sale is flooded (its bucket
   * is dry) or closed for now: the sale goes to lease mode at this gate.
   */
  refusedByScript(sku: string, refusal: Refusal): void {
    if (this.options.leaseMs <= 0 || refusal.replayed) return;
    const { reason } = refusal;
    if (!edgeReasons.some((r) => r === reason)) return;
    const now = this.now();
    let sale = this.sales.get(sku);
    if (sale === undefined) {
      sale = {
        leases: [],
        grant: undefined,
        clockOffsetMs: 0,
        calledAt: Number.NEGATIVE_INFINITY,
        calling: false,
        demand: 1,
        demandSince: now,
        unreported: 0,
        hotUntil: 0,
        firstWaitMs: refusal.facts.retryAfterMs ?? 0,
        dry: false,
      };
      this.sales.set(sku, sale);
    }
    // The bucket the script read was dry, whatever the last lease found. A paused or not yet
    // open sale says nothing of its bucket: until a lease brings the sale's state, its orders
    // go to the script, which gives them the right answer (not RATE_LIMITED).
    if (reason === 'RATE_LIMITED') sale.dry = true;
    sale.hotUntil = Math.max(sale.hotUntil, now + this.coolMs(sale));
    this.renewAhead(sku, sale, now);
  }

  /** The sale's burst as the last lease reply said; infinite when this gate does not know it. */
  burstOf(sku: string): number {
    return this.sales.get(sku)?.grant?.burst ?? Number.POSITIVE_INFINITY;
  }

  /** The sale changed (paused, resumed, restocked, edited): forget what this gate knew of it. */
  forget(sku: string): void {
    this.sales.delete(sku);
  }

  /** Counters for metrics. */
  counts(): EdgeAdmissionCounts {
    const now = this.now();
    return {
      // A cooled sale leaves the map at its next order; until then it is not counted.
      hotSales: [...this.sales.values()].filter((s) => s.calling || now < s.hotUntil).length,
      leaseCalls: this.leaseCalls,
      tokensLeased: this.tokensLeased,
      refused: { ...this.refused },
    };
  }

  /** Spends the oldest live token; false when none is left. */
  private spend(sale: HotSale, now: number): boolean {
    for (let oldest = sale.leases[0]; oldest !== undefined; oldest = sale.leases[0]) {
      if (oldest.lapsesAt > now && oldest.tokens >= 1) {
        oldest.tokens--;
        return true;
      }
      sale.leases.shift();
    }
    return false;
  }

  /** Unspent tokens of live leases. */
  private held(sale: HotSale, now: number): number {
    return sale.leases.reduce((sum, l) => sum + (l.lapsesAt > now ? l.tokens : 0), 0);
  }

  private refuse(
    sku: string,
    sale: HotSale,
    reason: EdgeReason,
    message: string,
    facts: Refusal['facts'] = {},
  ): Refusal {
    this.refused[reason]++;
    if (reason !== 'RATE_LIMITED') {
      const now = this.now();
      sale.hotUntil = now + this.coolMs(sale);
      // The safety poll: a lease call every interval refreshes the sale's state.
      this.renewAhead(sku, sale, now);
    }
    return new Refusal(reason, message, facts);
  }

  /**
   * Time between two lease calls: long enough for 16 tokens, but no longer than the bucket takes
   * to fill half way (it loses what it refills past its burst, so a late call must not find it
   * full), and never under the configured floor.
   */
  private intervalMs(sale: HotSale): number {
    const { grant } = sale;
    if (grant === undefined || grant.rate <= 0) return this.options.leaseMs;
    const tokens = Math.min(tokensPerCall, Math.max(1, grant.burst / 2));
    const ms = (1000 * tokens) / grant.rate;
    return Math.max(this.options.leaseMs, ms);
  }

  /** How long a lease's tokens live, from the call that took them. */
  private lifetimeMs(sale: HotSale): number {
    return 2 * this.intervalMs(sale);
  }

  private coolMs(sale: HotSale): number {
    return Math.max(1000, 5 * this.intervalMs(sale));
  }

  /** When a buyer refused for the rate should try again: the next lease call at the earliest. */
  private retryAfterMs(sale: HotSale, now: number): number {
    const wait =
      sale.grant === undefined
        ? sale.firstWaitMs
        : Math.max(sale.grant.waitMs, sale.calledAt + this.intervalMs(sale) - now);
    return Math.max(1, Math.ceil(wait));
  }

  /**
   * Tokens to ask for: this gate's demand over two intervals, at most two intervals of the
   * sale's rate (so one gate does not hoard what others could spend) and never above the burst.
   */
  private wanted(sale: HotSale, now: number): number {
    const { grant } = sale;
    // The first call: the bucket just ran dry, so demand is over the rate, not yet measured.
    if (grant === undefined) return tokensPerCall;
    const interval = this.intervalMs(sale);
    const perMs = sale.demand / Math.max(now - sale.demandSince, interval);
    const cap = Math.min(grant.burst, (2 * grant.rate * interval) / 1000);
    return Math.max(1, Math.floor(Math.min(cap, perMs * 2 * interval)));
  }

  /** Starts a lease call when the tokens run low and the interval since the last one has passed. */
  private renewAhead(sku: string, sale: HotSale, now: number): void {
    if (sale.calling || now < sale.calledAt + this.intervalMs(sale)) return;
    const wanted = this.wanted(sale, now);
    if (this.held(sale, now) > wanted / 2) return;
    sale.calling = true;
    sale.calledAt = now;
    const refused = sale.unreported;
    sale.unreported = 0;
    sale.demand = 0;
    sale.demandSince = now;
    this.leaseCalls++;
    this.source.lease(sku, wanted, refused).then(
      (grant) => {
        sale.calling = false;
        if (this.sales.get(sku) !== sale) return; // forgotten meanwhile
        if (grant === undefined) {
          // Not in the live store: the script says what that means.
          this.sales.delete(sku);
          return;
        }
        const received = this.now();
        sale.grant = grant;
        this.options.onGrant?.(sku, grant);
        // A closed sale grants nothing whatever its bucket holds: that is no sign of a dry one.
        const open =
          !grant.paused && grant.nowMs >= grant.startsAtMs && grant.nowMs < grant.endsAtMs;
        sale.dry = open && (grant.granted < wanted || grant.waitMs > 0);
        sale.clockOffsetMs = grant.nowMs - received;
        // Each lease lapses on its own: a token lives at most two intervals after the call
        // that took it, which is what bounds the tokens held across all gates.
        if (grant.granted > 0)
          sale.leases.push({
            tokens: grant.granted,
            lapsesAt: sale.calledAt + this.lifetimeMs(sale),
          });
        this.tokensLeased += grant.granted;
      },
      (error: unknown) => {
        sale.calling = false;
        // Without a lease the sale goes back to the script, which meets the failure itself.
        if (this.sales.get(sku) === sale) this.sales.delete(sku);
        this.options.onError?.(error, sku);
      },
    );
  }
}
