/**
 * Running sales: the admin use cases over the order database (the record) and the live
 * store (what the gates sell from). The database is written first; a live write that fails
 * leaves the sale under-sold, never over-sold, and reconcile repairs it.
 *
 * Every mutation is whole or nothing from the caller's view: an error means nothing durable
 * changed (or, for Restock, that a retry under the same key completes the call without doing
 * it twice); once the database holds the change, the answer is a success, with
 * `liveReloadPending` when the live part waits for the worker to catch up.
 */
import type {
  LiveCounters,
  LiveLoad,
  LiveSales,
  ReloadSnapshot,
  Reservation,
  SaleDatabase,
} from './ports.js';
import { Refusal, invalidArgument } from './refusal.js';
import { maxStock, validateSale, type Sale } from './sale.js';
import { saleState, type StockView } from './stock.js';

/** What the admin use cases need. */
export interface AdminDeps {
  readonly db: SaleDatabase;
  readonly live: LiveSales;
  /** Accepted orders not yet consumed by the worker (consumer lag on the order topic). */
  readonly unrecordedOrders: () => Promise<number>;
  readonly now: () => number;
}

/** A sale's statistics. */
export interface SaleStats extends LiveCounters {
  readonly pending: number;
  readonly confirmed: number;
  readonly rejected: number;
}

/** The outcome of a reconcile. */
export interface ReconcileReport {
  readonly liveUnits: number;
  readonly databaseUnits: number;
  readonly inFlightUnits: number;
  readonly drift: number;
  readonly repaired: boolean;
}

/**
 * The live part of a mutation whose durable part is done: false when the gates sell with it
 * now, true when the sale's live data is lost and the reload that restores it (with this
 * change) waits for the worker to record every accepted order. Reconcile with repair, or the
 * same call again, completes it.
 */
export interface LiveOutcome {
  readonly liveReloadPending: boolean;
}

/** The outcome of a restock. */
export interface RestockResult extends LiveOutcome {
  readonly sale: Sale;
  /** The live stock; undefined while the live reload is pending. */
  readonly stock: StockView | undefined;
  /** True when the key was already recorded: this call added nothing. */
  readonly replayed: boolean;
}

/** Longest idempotency key of an admin request. */
export const maxRequestKeyLength = 128;

/** Reload attempts when the outbox moves under the load (the relay publishing meanwhile). */
const reloadAttempts = 3;

const notFound = (sku: string) => new Refusal('SALE_NOT_FOUND', `no sale with sku ${sku}`);

/**
 * The live load of a sale from a database snapshot and the outbox entries read before it:
 * outbox orders the database has not recorded yet still hold their units, and their customers
 * hold them against the limit.
 */
export function liveLoad(snap: ReloadSnapshot, outbox: readonly Reservation[]): LiveLoad {
  const holdings = new Map(snap.holdings);
  let unrecordedUnits = 0;
  for (const { order } of outbox) {
    if (snap.recordedOrderIds.has(order.orderId)) continue;
    unrecordedUnits += order.quantity;
    holdings.set(order.customerId, (holdings.get(order.customerId) ?? 0) + order.quantity);
  }
  return {
    sale: snap.sale,
    unitsLeft: Math.max(0, snap.stock - unrecordedUnits),
    acceptedUnits: snap.recordedUnits + unrecordedUnits,
    holdings,
    outboxEntryIds: outbox.map((r) => r.entryId),
  };
}

/** Creates the admin use cases. */
export function createAdmin(deps: AdminDeps) {
  const { db, live } = deps;

  /**
   * Loads a sale whose live data is lost, once every accepted order is recorded: 'pending'
   * while the worker is behind, 'live' when the sale was whole after all (nothing written
   * either way). The outbox is read before the lag, so an order published after the lag was
   * read is still in the outbox, or the load finds the outbox moved and is computed again.
   */
  async function reload(sku: string): Promise<'loaded' | 'live' | 'pending'> {
    for (let attempt = 0; attempt < reloadAttempts; attempt++) {
      const outbox = await live.outbox(sku);
      if ((await deps.unrecordedOrders()) > 0) return 'pending';
      const snap = await db.reloadSnapshot(
        sku,
        outbox.map((r) => r.order.orderId),
      );
      if (!snap) throw notFound(sku);
      const outcome = await live.reload(liveLoad(snap, outbox));
      if (outcome !== 'moved') {
        await live.announce(sku);
        return outcome;
      }
    }
    return 'pending';
  }

  /**
   * The live stock of a sale; unavailable (SALE_STATE_RELOADING) while the live store has lost
   * a sale the database knows.
   */
  async function stock(sku: string): Promise<StockView> {
    const current = await live.read(sku);
    const reloading = () =>
      new Refusal(
        'SALE_STATE_RELOADING',
        'the sale’s live stock is lost; it is closed until reloaded',
      );
    if (!current) {
      if (await db.getSale(sku)) throw reloading();
      throw notFound(sku);
    }
    if (current.unitsLeft === null) throw reloading();
    return {
      sale: current.sale,
      unitsLeft: current.unitsLeft,
      state: saleState(current.sale, current.unitsLeft, deps.now()),
    };
  }

  /** After a live write: a sale found gone is reloaded; either way every gate hears of it. */
  async function settleLive(sku: string, written: boolean): Promise<LiveOutcome> {
    if (!written) return { liveReloadPending: (await reload(sku)) === 'pending' }; // announces
    await live.announce(sku);
    return { liveReloadPending: false };
  }

  return {
    reloadLost: reload,

    /** Creates a sale (live at once) or updates its settings. */
    async upsertSale(input: Sale): Promise<{ sale: Sale; created: boolean } & LiveOutcome> {
      const result = await db.upsertSale(validateSale(input));
      if (result.created) await live.load(result.sale, result.sale.totalStock, 0);
      const written = result.created || (await live.updateSettings(result.sale));
      return { ...result, ...(await settleLive(result.sale.sku, written)) };
    },

    /**
     * Adds units to a sale, once per `requestKey`: the database records the key with the
     * change, and the live store is brought up to the total recorded with it, which adds
     * nothing it already holds. A retry under the same key after any failure completes what
     * is missing. Without a key, every call adds its units.
     */
    async restock(sku: string, units: number, requestKey?: string): Promise<RestockResult> {
      if (!Number.isInteger(units) || units < 1 || units > maxStock)
        throw invalidArgument('units', `must be an integer from 1 to ${maxStock}`);
      if (
        requestKey !== undefined &&
        (requestKey === '' || requestKey.length > maxRequestKeyLength)
      )
        throw invalidArgument('idempotency_key', `must be 1 to ${maxRequestKeyLength} characters`);
      const recorded = await db.restock(sku, units, requestKey ?? crypto.randomUUID());
      if (!recorded) throw notFound(sku);
      const outcome = await settleLive(sku, await live.restock(sku, recorded.totalStockAfter));
      return {
        sale: recorded.sale,
        stock: outcome.liveReloadPending ? undefined : await stock(sku),
        replayed: recorded.replayed,
        ...outcome,
      };
    },

    /** Pauses or resumes a sale. */
    async setPaused(sku: string, paused: boolean): Promise<{ sale: Sale } & LiveOutcome> {
      const sale = await db.setPaused(sku, paused);
      if (!sale) throw notFound(sku);
      return { sale, ...(await settleLive(sku, await live.updateSettings(sale))) };
    },

    listSales: () => db.listSales(),

    stock,

    /** Counters of a sale. */
    async stats(sku: string): Promise<SaleStats> {
      const [counters, totals] = await Promise.all([live.counters(sku), db.orderTotals(sku)]);
      if (totals.stock === null) throw notFound(sku);
      return {
        ...counters,
        confirmed: totals.confirmed,
        rejected: totals.rejected,
        pending: Math.max(0, counters.accepted - totals.confirmed - totals.rejected),
      };
    },

    /**
     * Compares the live counter with the database. Expected live units = database stock minus
     * units accepted but not yet recorded; a worker commit between the two reads moves units
     * from "in flight" to "recorded" and leaves that expectation unchanged. A repair also sets
     * the live total to the database's, and is not applied when a restock reached the live
     * sale between the two reads (`repaired` false: reconcile again). A lost sale is reloaded;
     * while the worker is behind that is refused as unavailable, having changed nothing.
     */
    async reconcile(sku: string, repair: boolean): Promise<ReconcileReport> {
      const snap = await live.snapshot(sku);
      const totals = await db.orderTotals(sku);
      if (totals.stock === null || totals.totalStock === null) throw notFound(sku);
      const databaseUnits = totals.stock;
      if (snap.unitsLeft === null || snap.totalStock === null) {
        if (repair && (await reload(sku)) === 'pending') {
          throw new Refusal(
            'DEPENDENCY_UNAVAILABLE',
            'accepted orders are still being recorded; retry the reload shortly',
          );
        }
        return { liveUnits: -1, databaseUnits, inFlightUnits: 0, drift: 0, repaired: repair };
      }
      const inFlightUnits = snap.acceptedUnits - totals.recordedUnits;
      const drift = snap.unitsLeft - (databaseUnits - inFlightUnits);
      const repaired =
        repair &&
        (drift !== 0 || snap.totalStock !== totals.totalStock) &&
        (await live.adjust(sku, -drift, snap.totalStock, totals.totalStock));
      if (repaired) await live.announce(sku);
      return { liveUnits: snap.unitsLeft, databaseUnits, inFlightUnits, drift, repaired };
    },
  };
}

/** The admin use cases. */
export type Admin = ReturnType<typeof createAdmin>;
