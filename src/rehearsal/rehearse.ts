/**
 * The rehearsal engine: a crowd of buyers played against a gate, each behaving like a real
 * client (src/client/retry.ts: one idempotency key, retries after the gate's delay with the
 * waiting-room ticket it gave), then the sale checked through AdminService once the worker has
 * recorded what was accepted. Bounded: at most {@link maxBuyers} buyers, and every buyer stops
 * at its final answer or at the rehearsal's deadline. See docs/rehearsal.md.
 */
import { Code, ConnectError, createClient, type Interceptor } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { isMessage } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { AdminService } from '../../gen/fluxgate/v1/admin_pb.js';
import { InventoryService } from '../../gen/fluxgate/v1/inventory_pb.js';
import { OrderGateService, PlaceOrderRequestSchema } from '../../gen/fluxgate/v1/order_gate_pb.js';
import { describeFailure, placeOrder } from '../client/retry.js';
import { attemptQueue } from './attempts.js';
import { arrivalTimes, type Profile } from './profiles.js';
import { accepted, Recorder, type BuyerEnd } from './recorder.js';

/** The most buyers one rehearsal plays: every buyer holds a little memory until the end. */
export const maxBuyers = 100_000;

/** What to rehearse, and against which gate. */
export interface RehearsalOptions {
  /** The gate's base URL (gRPC over HTTP/2; https for TLS). */
  readonly url: string;
  /** Bearer token for AdminService: creating the sale and checking it. */
  readonly adminToken: string | undefined;
  /**
   * A service token (the gate's FLUXGATE_SERVICE_TOKENS) the buyers' calls carry, for a gate
   * whose buyer authentication is on: it lets one client order for every customer of the crowd.
   */
  readonly serviceToken?: string;
  /** An existing sale to play against; absent: a fresh sale is created. */
  readonly sku?: string;
  /** Units of the fresh sale (ignored for an existing one). */
  readonly units: number;
  /** Admission rate and burst of the fresh sale, per second (ignored for an existing one). */
  readonly rate: number;
  readonly burst: number;
  /** Buyers in the crowd, 1 to {@link maxBuyers}. */
  readonly buyers: number;
  readonly profile: Profile;
  /** Time the crowd may take, ms from the start: then every buyer still trying stops. */
  readonly timeoutMs: number;
  /** Time the worker may take afterwards to record the accepted orders, ms. */
  readonly settleMs: number;
  /** HTTP/2 connections the buyers share (a real crowd comes over many). */
  readonly connections: number;
  /** PlaceOrder calls in flight at once; the rest wait their turn on this machine. */
  readonly inFlight: number;
  /** Random source of the arrival profile (tests fix it). */
  readonly random?: () => number;
}

/** The sale as checked through AdminService after the crowd (Reconcile and GetSaleStats). */
export interface SaleCheck {
  readonly totalStock: number;
  /** Units left in Redis, and in PostgreSQL's product row. */
  readonly liveUnits: number;
  readonly databaseUnits: number;
  /** Accepted units the worker has not recorded yet (0 once settled). */
  readonly inFlightUnits: number;
  /** Redis minus what PostgreSQL implies (Reconcile's drift): 0 when they agree. */
  readonly drift: number;
  /** Units sold as Redis and PostgreSQL count them (total stock minus units left). */
  readonly soldInRedis: number;
  readonly soldInDatabase: number;
  /** The gate's own counters of the sale (GetSaleStats). */
  readonly stats: {
    readonly accepted: number;
    readonly confirmed: number;
    readonly rejected: number;
    readonly pending: number;
    readonly soldOutRefusals: number;
    readonly rateLimited: number;
  };
  /** Whether the worker recorded every accepted order within the settle time. */
  readonly settled: boolean;
  /** More units sold than offered, anywhere: the one thing a sale must never do. */
  readonly oversold: boolean;
  /**
   * Redis, PostgreSQL and the gate's counters agree with each other (no drift, nothing in
   * flight) and, for a fresh sale, with the units the buyers were told were accepted.
   */
  readonly agrees: boolean;
}

/** Everything a rehearsal measured. */
export interface RehearsalResult {
  readonly sku: string;
  /** Whether the rehearsal created the sale (so that all its orders are the crowd's). */
  readonly createdSale: boolean;
  readonly startedAtMs: number;
  /** From the first arrival to the last buyer's end, ms. */
  readonly durationMs: number;
  /** Whether time ran out for some buyers: not yet arrived, or still trying at the deadline. */
  readonly timedOut: boolean;
  readonly recorder: Recorder;
  readonly check: SaleCheck;
}

/** Waits ms, or less if `signal` aborts. */
const pause = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });

/**
 * Plays the crowd; `recorder` fills as it goes (the caller may display it meanwhile).
 * Rejects only when the sale cannot be set up or checked (gate unreachable, token refused).
 */
export async function rehearse(
  options: RehearsalOptions,
  recorder: Recorder = new Recorder(),
): Promise<RehearsalResult> {
  if (!(options.buyers >= 1 && options.buyers <= maxBuyers))
    throw new RangeError(`buyers must be from 1 to ${String(maxBuyers)}`);
  const auth: Interceptor = (next) => (req) => {
    if (options.adminToken !== undefined)
      req.header.set('authorization', `Bearer ${options.adminToken}`);
    return next(req);
  };
  const control = createGrpcTransport({ baseUrl: options.url, interceptors: [auth] });
  const admin = createClient(AdminService, control);
  const inventory = createClient(InventoryService, control);

  const runId = `rh${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
  const createdSale = options.sku === undefined;
  const sku = options.sku ?? `REHEARSAL-${runId}`;
  // An existing sale is checked first: a wrong token or sku fails before the crowd, not after.
  if (!createdSale) await admin.getSaleStats({ sku });
  else {
    const now = Date.now();
    await admin.upsertSale({
      sale: {
        sku,
        name: `Rehearsal ${runId}`,
        totalStock: BigInt(options.units),
        perCustomerLimit: 1,
        admissionRate: options.rate,
        admissionBurst: options.burst,
        startsAt: timestampFromMs(now - 1000),
        // Open well past the rehearsal: it ends by its own deadline, not the sale's.
        endsAt: timestampFromMs(now + options.timeoutMs + options.settleMs + 3_600_000),
      },
    });
  }

  const startedAtMs = Date.now();
  const t0 = performance.now();
  const since = () => performance.now() - t0;
  // Each buyer has a signal of its own, all aborted at the deadline: with thousands of buyers
  // on one shared signal, every call's listener would be checked against all the others.
  const deadline = new AbortController();
  const buying = new Set<AbortController>();
  const deadlineTimer = setTimeout(() => {
    deadline.abort();
    for (const buyer of buying) buyer.abort(new ConnectError('time ran out', Code.Canceled));
  }, options.timeoutMs);

  // The stock stream drives the display's units left and tells waiting buyers of the sell-out.
  const wakeOnSoldOut = new Set<() => void>();
  const soldOut = () => {
    recorder.soldOut(since());
    for (const wake of wakeOnSoldOut) wake();
  };
  const watchStop = new AbortController();
  const watching = (async () => {
    for await (const { stock } of inventory.watchStock({ sku }, { signal: watchStop.signal })) {
      if (stock === undefined) continue;
      recorder.unitsLeft = Number(stock.unitsLeft);
      if (stock.unitsLeft === 0n) soldOut();
    }
  })().catch(() => undefined); // the display then lacks units left; the rehearsal goes on

  // Buyers' calls: spread over several connections, each measured from when it is sent.
  const attempts = attemptQueue(options.inFlight);
  const measure: Interceptor = (next) => (req) =>
    attempts.run(
      isMessage(req.message, PlaceOrderRequestSchema) ? req.message.idempotencyKey : '',
      async () => {
        if (options.serviceToken !== undefined)
          req.header.set('authorization', `Bearer ${options.serviceToken}`);
        const sent = performance.now();
        try {
          const response = await next(req);
          recorder.answer(accepted, since(), performance.now() - sent);
          return response;
        } catch (error) {
          // An attempt cut off by the rehearsal's deadline got no answer.
          if (!deadline.signal.aborted)
            recorder.answer(describeFailure(error).reason, since(), performance.now() - sent);
          throw error;
        }
      },
    );
  const connect = () =>
    createClient(
      OrderGateService,
      createGrpcTransport({ baseUrl: options.url, interceptors: [measure] }),
    );
  const first = connect();
  const connections = [first, ...Array.from({ length: options.connections - 1 }, connect)];
  const ordersOf = (index: number) => connections[index % connections.length] ?? first;

  /**
   * A buyer's wait between attempts. The sell-out cuts it short, as a ticket watch would tell
   * a waiting buyer at once: the next attempt learns SOLD_OUT (at the gate's edge, cheaply).
   */
  const wait = (ms: number, signal: AbortSignal | undefined) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(ConnectError.from(signal.reason, Code.Canceled));
        return;
      }
      const done = () => {
        clearTimeout(timer);
        wakeOnSoldOut.delete(done);
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = () => {
        clearTimeout(timer);
        wakeOnSoldOut.delete(done);
        reject(ConnectError.from(signal?.reason, Code.Canceled));
      };
      // Once sold out, still no tighter loop than 100 ms (e.g. a gate answering overloaded).
      const timer = setTimeout(done, recorder.soldOutMs === undefined ? ms : Math.min(ms, 100));
      signal?.addEventListener('abort', onAbort, { once: true });
      if (recorder.soldOutMs === undefined) wakeOnSoldOut.add(done);
    });

  const buyer = async (index: number): Promise<void> => {
    let lastReason: string | undefined;
    let end: BuyerEnd;
    const signal = new AbortController();
    buying.add(signal);
    try {
      const timeLeft = options.timeoutMs - since();
      await placeOrder(
        ordersOf(index),
        { sku, quantity: 1, customerId: `${runId}-${String(index)}` },
        {
          // The rehearsal's deadline bounds every buyer; an attempt may wait its turn here.
          policy: { deadlineMs: timeLeft, attemptTimeoutMs: timeLeft },
          signal: signal.signal,
          sleep: wait,
          onRetry: (_attempt, failure) => {
            lastReason = failure.reason;
          },
        },
      );
      end = { kind: 'accepted' };
    } catch (error) {
      const failure = describeFailure(error);
      // A refusal that another attempt could not change is final; otherwise time ran out.
      const timeUp = signal.signal.aborted;
      end =
        timeUp || failure.retryable
          ? { kind: 'unfinished', lastReason: timeUp ? lastReason : failure.reason }
          : { kind: 'refused', reason: failure.reason };
    } finally {
      buying.delete(signal);
    }
    recorder.end(end);
  };

  const times = arrivalTimes(options.profile, options.buyers, options.random);
  const buyers: Promise<void>[] = [];
  for (const [index, at] of times.entries()) {
    const ahead = at - since();
    if (ahead > 0) await pause(ahead, deadline.signal);
    // Let answers and the display in between arrivals of a crowd that comes all at once.
    else if (index % 200 === 199) await new Promise((resolve) => setImmediate(resolve));
    if (deadline.signal.aborted) break;
    recorder.arrived++;
    recorder.lastArrivalMs = since();
    buyers.push(buyer(index));
  }
  await Promise.all(buyers);
  const durationMs = since();
  clearTimeout(deadlineTimer);
  // A buyer also gives up early when its next try could only come after the deadline.
  const timedOut = recorder.arrived < options.buyers || recorder.ends.has('UNFINISHED');
  watchStop.abort();
  await watching;

  const check = await checkSale(admin, sku, createdSale, recorder.acceptedBuyers, options.settleMs);
  return { sku, createdSale, startedAtMs, durationMs, timedOut, recorder, check };
}

/**
 * Waits (up to `settleMs`) until the worker has recorded every accepted order of the sale, then
 * compares Redis with PostgreSQL through Reconcile (no repair) and reads the gate's counters.
 */
async function checkSale(
  admin: ReturnType<typeof createClient<typeof AdminService>>,
  sku: string,
  createdSale: boolean,
  acceptedByBuyers: number,
  settleMs: number,
): Promise<SaleCheck> {
  const until = performance.now() + settleMs;
  let report = await admin.reconcile({ sku, repair: false });
  while (report.inFlightUnits !== 0n && performance.now() < until) {
    await pause(250);
    report = await admin.reconcile({ sku, repair: false });
  }
  const { stats } = await admin.getSaleStats({ sku });
  const { sales } = await admin.listSales({});
  const totalStock = Number(sales.find((s) => s.sku === sku)?.totalStock ?? 0n);
  const liveUnits = Number(report.liveUnits);
  const databaseUnits = Number(report.databaseUnits);
  const inFlightUnits = Number(report.inFlightUnits);
  const drift = Number(report.drift);
  const soldInRedis = totalStock - liveUnits;
  const soldInDatabase = totalStock - databaseUnits;
  const counters = {
    accepted: Number(stats?.accepted ?? 0n),
    confirmed: Number(stats?.confirmed ?? 0n),
    rejected: Number(stats?.rejected ?? 0n),
    pending: Number(stats?.pending ?? 0n),
    soldOutRefusals: Number(stats?.soldOutRefusals ?? 0n),
    rateLimited: Number(stats?.rateLimited ?? 0n),
  };
  const settled = inFlightUnits === 0;
  const oversold =
    liveUnits < 0 ||
    databaseUnits < 0 ||
    soldInRedis > totalStock ||
    soldInDatabase > totalStock ||
    (createdSale && acceptedByBuyers > totalStock);
  const agrees =
    settled &&
    drift === 0 &&
    soldInRedis === soldInDatabase &&
    (!createdSale || (acceptedByBuyers === soldInRedis && counters.confirmed === acceptedByBuyers));
  return {
    totalStock,
    liveUnits,
    databaseUnits,
    inFlightUnits,
    drift,
    soldInRedis,
    soldInDatabase,
    stats: counters,
    settled,
    oversold,
    agrees,
  };
}
