/**
 * Edge admission (src/admission/edge-admission.ts) against an in-memory token bucket that
 * follows lease-tokens.lua's rules, on a fake clock: when a sale goes to lease mode and back,
 * what is refused without Redis, how often Redis is asked, and the global bound across gates.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import {
  EdgeAdmission,
  type LeaseGrant,
  type LeaseSource,
} from '../../src/admission/edge-admission.js';
import { Refusal } from '../../src/domain/refusal.js';

/** The clock every gate and the bucket share, in ms. */
class Clock {
  t = 1_000_000;
  readonly now = () => this.t;
}

interface SaleState {
  rate: number;
  burst: number;
  startsAtMs: number;
  endsAtMs: number;
  paused: boolean;
}

/**
 * One sale's bucket, as lease-tokens.lua keeps it. Calls are answered when `settle` runs, so a
 * test decides when a reply arrives; `taken` logs every grant with its time.
 */
class FakeBucket implements LeaseSource {
  tokens: number;
  ts: number;
  calls = 0;
  refusedReported = 0;
  fail = false;
  readonly taken: { at: number; n: number }[] = [];
  private pending: (() => void)[] = [];

  constructor(
    private readonly clock: Clock,
    readonly sale: SaleState,
  ) {
    this.tokens = sale.burst;
    this.ts = clock.t;
  }

  lease(_sku: string, wanted: number, refused: number): Promise<LeaseGrant | undefined> {
    this.calls++;
    return new Promise((resolve, reject) => {
      this.pending.push(() => {
        if (this.fail) {
          reject(new Error('redis down'));
          return;
        }
        this.refusedReported += refused;
        const now = this.clock.t;
        const { rate, burst, startsAtMs, endsAtMs, paused } = this.sale;
        this.tokens = Math.min(burst, this.tokens + ((now - this.ts) * rate) / 1000);
        this.ts = now;
        const open = !paused && now >= startsAtMs && now < endsAtMs;
        const granted = open ? Math.min(wanted, Math.floor(this.tokens)) : 0;
        this.tokens -= granted;
        if (granted > 0) this.taken.push({ at: now, n: granted });
        const waitMs = this.tokens >= 1 ? 0 : Math.ceil(((1 - this.tokens) * 1000) / rate);
        resolve({
          granted,
          waitMs,
          nowMs: now,
          startsAtMs,
          endsAtMs,
          paused,
          rate,
          burst,
          nowServing: 0,
          lottery: false,
        });
      });
    });
  }

  /** The place-order script's own take of one token (a `bucket` verdict); false when dry. */
  scriptTake(): boolean {
    this.scriptCalls++;
    const now = this.clock.t;
    const { rate, burst } = this.sale;
    this.tokens = Math.min(burst, this.tokens + ((now - this.ts) * rate) / 1000);
    this.ts = now;
    if (this.tokens < 1) return false;
    this.tokens--;
    this.taken.push({ at: now, n: 1 });
    return true;
  }

  scriptCalls = 0;

  /** Answers every call made so far. */
  async settle(): Promise<void> {
    const answers = this.pending;
    this.pending = [];
    for (const answer of answers) answer();
    // Let the gates' continuations run.
    for (let i = 0; i < 3; i++) await Promise.resolve();
  }
}

const rateLimited = new Refusal('RATE_LIMITED', 'dry', { retryAfterMs: 30 });
const openSale = (over: Partial<SaleState> = {}): SaleState => ({
  rate: 100,
  burst: 20,
  startsAtMs: 0,
  endsAtMs: Number.MAX_SAFE_INTEGER,
  paused: false,
  ...over,
});

function gateOn(bucket: FakeBucket, clock: Clock, leaseMs = 50) {
  const errors: unknown[] = [];
  const edge = new EdgeAdmission(bucket, {
    leaseMs,
    now: clock.now,
    onError: (e) => errors.push(e),
  });
  return { edge, errors };
}

const reasonOf = (v: ReturnType<EdgeAdmission['admit']>) => (v instanceof Refusal ? v.reason : v);

/**
 * One order through the edge and, on a `bucket` verdict, the script's own take from the bucket
 * (whose dry answer the place-order use case reports back): admitted `leased` or by the
 * `script`, or refused.
 */
function decide(
  edge: EdgeAdmission,
  bucket: FakeBucket,
): 'leased' | 'script' | 'RATE_LIMITED by the script' | Refusal['reason'] {
  const verdict = edge.admit('S');
  if (verdict instanceof Refusal) return verdict.reason;
  if (verdict === 'leased') return 'leased';
  if (bucket.scriptTake()) return 'script';
  edge.refusedByScript('S', rateLimited);
  return 'RATE_LIMITED by the script';
}

describe('EdgeAdmission', () => {
  test('a quiet sale takes no lease: every order goes to the script', () => {
    const clock = new Clock();
    const bucket = new FakeBucket(clock, openSale());
    const { edge } = gateOn(bucket, clock);
    for (let i = 0; i < 100; i++) expect(edge.admit('S')).toBe('bucket');
    expect(bucket.calls).toBe(0);
  });

  test('with leases off, a dry bucket changes nothing', () => {
    const clock = new Clock();
    const bucket = new FakeBucket(clock, openSale());
    const { edge } = gateOn(bucket, clock, 0);
    edge.refusedByScript('S', rateLimited);
    expect(edge.admit('S')).toBe('bucket');
    expect(bucket.calls).toBe(0);
  });

  test('hot: refused at the edge until the lease comes, then spends it, then refuses with a delay; Redis is asked once per interval', async () => {
    const clock = new Clock();
    const bucket = new FakeBucket(clock, openSale({ rate: 100, burst: 20 }));
    const { edge } = gateOn(bucket, clock);
    edge.refusedByScript('S', rateLimited);
    expect(bucket.calls).toBe(1);
    const before = edge.admit('S');
    expect(reasonOf(before)).toBe('RATE_LIMITED');
    expect((before as Refusal).facts.retryAfterMs).toBe(30); // the script's wait, until a lease
    await bucket.settle();
    // The first lease: 16 tokens (no rate known before the first reply), 4 left in the bucket,
    // so the lease running out is no refusal yet: the script takes those 4, then finds the
    // bucket dry, and from then on the edge refuses.
    const verdicts = Array.from({ length: 40 }, () => decide(edge, bucket));
    expect(verdicts.slice(0, 16).every((v) => v === 'leased')).toBe(true);
    expect(verdicts.slice(16, 20).every((v) => v === 'script')).toBe(true);
    expect(verdicts[20]).toBe('RATE_LIMITED by the script');
    expect(verdicts.slice(21).every((v) => v === 'RATE_LIMITED')).toBe(true);
    // 40 requests, and still the one call: the next waits for the interval (half the burst of
    // 20 at 100/s: 100 ms; 16 tokens would take longer).
    expect(bucket.calls).toBe(1);
    const refusal = edge.admit('S') as Refusal;
    expect(refusal.facts.retryAfterMs).toBeGreaterThan(0);
    expect(refusal.facts.retryAfterMs).toBeLessThanOrEqual(100);
    clock.t += 100;
    edge.admit('S');
    expect(bucket.calls).toBe(2);
    await bucket.settle();
    // 10 more tokens came in 100 ms.
    expect(edge.counts().tokensLeased).toBe(16 + 10);
    // The refusals made at the edge were reported with the second call.
    expect(bucket.refusedReported).toBe(1 + 19 + 1);
  });

  test('a bucket refilled past its burst loses tokens: the interval is no longer than the burst takes', async () => {
    const clock = new Clock();
    const bucket = new FakeBucket(clock, openSale({ rate: 20, burst: 5 }));
    const { edge } = gateOn(bucket, clock, 5);
    edge.refusedByScript('S', rateLimited);
    let admitted = 0;
    for (let step = 0; step < 10_000; step++) {
      clock.t += 1; // a request every ms for 10 s: 50 times the rate
      const outcome = decide(edge, bucket);
      if (outcome === 'leased' || outcome === 'script') admitted++;
      await bucket.settle();
    }
    // 2.5 tokens every 125 ms: the rate itself, not 5 tokens every 800 ms (16 tokens' time).
    expect(admitted).toBeGreaterThanOrEqual(20 * 10 - 10);
  });

  test('a flood of 10x the rate for 10 s asks Redis at most rate/16 times a second', async () => {
    const clock = new Clock();
    const bucket = new FakeBucket(clock, openSale({ rate: 200, burst: 50 }));
    const { edge } = gateOn(bucket, clock, 5);
    edge.refusedByScript('S', rateLimited);
    let refused = 0;
    let refusedByScript = 0;
    // 2,000 requests a second: one every 0.5 ms; replies come within the millisecond.
    for (let step = 0; step < 20_000; step++) {
      clock.t += 0.5;
      const outcome = decide(edge, bucket);
      if (outcome.startsWith('RATE_LIMITED')) refused++;
      if (outcome === 'RATE_LIMITED by the script') refusedByScript++;
      if (step % 2 === 0) await bucket.settle();
    }
    expect(bucket.calls).toBeLessThanOrEqual((10 * 200) / 16 + 1);
    // Redis calls for refused requests: the leases, and the scripts that refused.
    expect((bucket.calls + refusedByScript) / refused).toBeLessThan(0.02);
    // And the sale still sells at its rate: burst + rate x 10 s, less what the last lease holds.
    const admitted = 20_000 - refused;
    expect(admitted).toBeGreaterThanOrEqual(50 + 200 * 10 - 2 * 16 * 2);
    expect(admitted).toBeLessThanOrEqual(50 + 200 * 10);
  });

  test('a lease that was merely small is no refusal: with the bucket not dry, orders past the lease go to the script', async () => {
    const clock = new Clock();
    // A quiet sale made hot by one customer's own bucket: the sale's bucket is full.
    const bucket = new FakeBucket(clock, openSale({ rate: 1000, burst: 1000 }));
    const { edge } = gateOn(bucket, clock);
    edge.refusedByScript('S', rateLimited);
    await bucket.settle();
    clock.t += 500; // the first lease's tokens lapsed; the next is sized by this gate's demand
    expect(edge.admit('S')).toBe('bucket');
    await bucket.settle();
    const verdicts = Array.from({ length: 10 }, () => reasonOf(edge.admit('S')));
    expect(verdicts).not.toContain('RATE_LIMITED');
    expect(verdicts).toContain('bucket');
    // Once the script finds the bucket dry, the edge refuses again.
    edge.refusedByScript('S', rateLimited);
    expect(reasonOf(edge.admit('S'))).toBe('RATE_LIMITED');
  });

  test('paused and not yet open are refused at the edge, by the Redis clock; forget() hands the sale back to the script', async () => {
    const clock = new Clock();
    const sale = openSale({ paused: true });
    const bucket = new FakeBucket(clock, sale);
    const { edge } = gateOn(bucket, clock);
    edge.refusedByScript('S', new Refusal('SALE_PAUSED', 'paused'));
    await bucket.settle();
    expect(reasonOf(edge.admit('S'))).toBe('SALE_PAUSED');
    expect(edge.counts().refused.SALE_PAUSED).toBe(1);
    edge.forget('S'); // the resume was announced
    expect(edge.admit('S')).toBe('bucket');

    sale.paused = false;
    sale.startsAtMs = clock.t + 1000;
    edge.refusedByScript('S', new Refusal('SALE_NOT_OPEN', 'not yet'));
    await bucket.settle();
    const early = edge.admit('S') as Refusal;
    expect(early.reason).toBe('SALE_NOT_OPEN');
    expect(early.facts.startsAtMs).toBe(sale.startsAtMs);
    expect(bucket.taken).toEqual([]); // a closed sale grants nothing
    clock.t = sale.startsAtMs - 1;
    expect(reasonOf(edge.admit('S'))).toBe('SALE_NOT_OPEN'); // and the poll asks again
    clock.t = sale.startsAtMs;
    // Open by the Redis clock: the bucket is not known to be dry, so the script decides while
    // the call under way brings tokens.
    expect(edge.admit('S')).toBe('bucket');
    await bucket.settle();
    expect(edge.admit('S')).toBe('leased');
  });

  test('paused or not yet open, while the first lease is out: the script answers, never RATE_LIMITED', async () => {
    const clock = new Clock();
    for (const [state, reason] of [
      [{ paused: true }, 'SALE_PAUSED'],
      [{ startsAtMs: clock.t + 60_000 }, 'SALE_NOT_OPEN'],
    ] as const) {
      const bucket = new FakeBucket(clock, openSale(state));
      const { edge } = gateOn(bucket, clock);
      edge.refusedByScript('S', new Refusal(reason, 'closed for now'));
      expect(bucket.calls).toBe(1); // the lease call is out, not answered
      expect(edge.admit('S')).toBe('bucket');
      expect(edge.admit('S')).toBe('bucket');
      await bucket.settle();
      expect(reasonOf(edge.admit('S'))).toBe(reason);
    }
  });

  test('an ended sale is left to the script, whose answer is stored against the key', async () => {
    const clock = new Clock();
    const bucket = new FakeBucket(clock, openSale({ endsAtMs: 1_000_500 }));
    const { edge } = gateOn(bucket, clock);
    edge.refusedByScript('S', rateLimited);
    await bucket.settle();
    clock.t = 1_000_500;
    expect(edge.admit('S')).toBe('bucket');
  });

  test('a sale cools down: without rate refusals for a while it goes back to the script', async () => {
    const clock = new Clock();
    const bucket = new FakeBucket(clock, openSale({ rate: 1000, burst: 1000 }));
    const { edge } = gateOn(bucket, clock);
    edge.refusedByScript('S', rateLimited);
    await bucket.settle();
    expect(edge.admit('S')).toBe('leased');
    expect(edge.counts().hotSales).toBe(1);
    clock.t += 1001;
    expect(edge.counts().hotSales).toBe(0); // cooled, before any further order
    expect(edge.admit('S')).toBe('bucket');
  });

  test('leased tokens lapse two intervals after the call that took them', async () => {
    const clock = new Clock();
    // A burst of 16: the first lease takes it all, so the bucket is known dry.
    const bucket = new FakeBucket(clock, openSale({ rate: 100, burst: 16 }));
    const { edge } = gateOn(bucket, clock);
    edge.refusedByScript('S', rateLimited);
    await bucket.settle();
    expect(edge.admit('S')).toBe('leased'); // 15 left of 16
    // The rate is known now: interval 80 ms (half the burst), lifetime 160 ms.
    clock.t += 160;
    bucket.fail = true; // no new lease either
    const v = edge.admit('S');
    expect(reasonOf(v)).toBe('RATE_LIMITED');
  });

  test('a failed lease call hands the sale back to the script and is reported', async () => {
    const clock = new Clock();
    const bucket = new FakeBucket(clock, openSale());
    const { edge, errors } = gateOn(bucket, clock);
    bucket.fail = true;
    edge.refusedByScript('S', rateLimited);
    await bucket.settle();
    expect(errors).toHaveLength(1);
    expect(edge.admit('S')).toBe('bucket');
  });

  test('replayed answers and final refusals do not make a sale hot', () => {
    const clock = new Clock();
    const bucket = new FakeBucket(clock, openSale());
    const { edge } = gateOn(bucket, clock);
    edge.refusedByScript('S', new Refusal('RATE_LIMITED', 'x', {}, { replayed: true }));
    edge.refusedByScript('S', new Refusal('SOLD_OUT', 'x'));
    edge.refusedByScript('S', new Refusal('SALE_ENDED', 'x'));
    expect(bucket.calls).toBe(0);
    expect(edge.admit('S')).toBe('bucket');
  });

  test('across gates, orders admitted in any window never exceed burst + rate x (window + lease lifetime)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          gates: fc.integer({ min: 1, max: 4 }),
          rate: fc.integer({ min: 5, max: 500 }),
          burst: fc.integer({ min: 1, max: 100 }),
          leaseMs: fc.integer({ min: 1, max: 200 }),
          // Per step: which gate gets a request, how far the clock moves (ms), whether replies land.
          steps: fc.array(fc.tuple(fc.nat(3), fc.integer({ min: 0, max: 20 }), fc.boolean()), {
            minLength: 50,
            maxLength: 600,
          }),
        }),
        async ({ gates, rate, burst, leaseMs, steps }) => {
          const clock = new Clock();
          const bucket = new FakeBucket(clock, openSale({ rate, burst }));
          const edges = Array.from({ length: gates }, () => gateOn(bucket, clock, leaseMs).edge);
          for (const e of edges) e.refusedByScript('S', rateLimited);
          const admittedAt: number[] = [];
          for (const [gate, advance, reply] of steps) {
            clock.t += advance;
            const outcome = decide(edges[gate % gates]!, bucket);
            if (outcome === 'leased' || outcome === 'script') admittedAt.push(clock.t);
            if (reply) await bucket.settle();
          }
          // The lifetime is two intervals; an interval is the time for 16 tokens or half the burst.
          const tokens = Math.min(16, Math.max(1, burst / 2));
          const lifetimeMs = 2 * Math.max(leaseMs, (1000 * tokens) / rate);
          // For every pair lo <= hi: (hi - lo + 1) <= burst + rate * (t[hi] - t[lo] + lifetime),
          // i.e. f(hi) - f(lo) + 1 <= burst + rate * lifetime with f(i) = i - rate * t[i]: one
          // pass keeping the least f seen.
          const f = (i: number) => i - (rate * admittedAt[i]!) / 1000;
          let least = Number.POSITIVE_INFINITY;
          for (let hi = 0; hi < admittedAt.length; hi++) {
            least = Math.min(least, f(hi));
            expect(f(hi) - least + 1).toBeLessThanOrEqual(
              burst + (rate * lifetimeMs) / 1000 + 1e-9,
            );
          }
          // And no order was admitted without a token the bucket gave.
          const given = bucket.taken.reduce((sum, t) => sum + t.n, 0);
          expect(admittedAt.length).toBeLessThanOrEqual(given);
        },
      ),
      { numRuns: 100 },
    );
  });
});
