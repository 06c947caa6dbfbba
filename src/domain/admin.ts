/**
 * Running sales: the admin use cases over the order database (the record) and the live
 * store (what the gates sell from). The database is written first; a live write that fails
 * leaves the sale under-sold, never over-sold, and reconcile repairs it.
 */
import type { LiveCounters, LiveSales, SaleDatabase } from './ports.js';
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

const notFound = (sku: string) => new Refusal('SALE_NOT_FOUND', `no sale with sku ${sku}`);

/** Creates the admin use cases. */
export function createAdmin(deps: AdminDeps) {
  const { db, live } = deps;

  /** Loads a sale whose live keys are lost, once every accepted order is recorded. */
  async function reload(sku: string): Promise<void> {
    if ((await deps.unrecordedOrders()) > 0) {
      throw new Refusal(
        'DEPENDENCY_UNAVAILABLE',
        'accepted orders are still being recorded; retry the reload shortly',
      );
    }
    const current = await db.getSale(sku);
    if (!current) throw notFound(sku);
    const totals = await db.orderTotals(sku);
    // Nothing is in flight: the database's stock is the truth, and every accepted unit is recorded.
    await live.load(current.sale, totals.stock ?? current.stock, totals.recordedUnits);
    await live.announce(sku);
  }

  /** The live stock of a sale (fails closed as unavailable when its counter is lost). */
  async function stock(sku: string): Promise<StockView> {
    const current = await live.read(sku);
    if (!current) throw notFound(sku);
    if (current.unitsLeft === null) {
      throw new Refusal(
        'DEPENDENCY_UNAVAILABLE',
        'the sale’s live stock is lost; it is closed until reloaded',
      );
    }
    return {
      sale: current.sale,
      unitsLeft: current.unitsLeft,
      state: saleState(current.sale, current.unitsLeft, deps.now()),
    };
  }

  /** After a live write: a sale found gone is reloaded; either way every gate hears of it. */
  async function settleLive(sku: string, written: boolean): Promise<void> {
    if (written) await live.announce(sku);
    else await reload(sku); // announces too
  }

  return {
    /** Creates a sale (live at once) or updates its settings. */
    async upsertSale(input: Sale): Promise<{ sale: Sale; created: boolean }> {
      const result = await db.upsertSale(validateSale(input));
      if (result.created) await live.load(result.sale, result.sale.totalStock, 0);
      await settleLive(result.sale.sku, result.created || (await live.updateSettings(result.sale)));
      return result;
    },

    /** Adds units to a sale. */
    async restock(sku: string, units: number): Promise<{ sale: Sale; stock: StockView }> {
      if (!Number.isInteger(units) || units < 1 || units > maxStock)
        throw invalidArgument('units', `must be an integer from 1 to ${maxStock}`);
      const sale = await db.restock(sku, units);
      if (!sale) throw notFound(sku);
      await settleLive(sku, await live.restock(sku, units));
      return { sale, stock: await stock(sku) };
    },

    /** Pauses or resumes a sale. */
    async setPaused(sku: string, paused: boolean): Promise<Sale> {
      const sale = await db.setPaused(sku, paused);
      if (!sale) throw notFound(sku);
      await settleLive(sku, await live.updateSettings(sale));
      return sale;
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
     * from "in flight" to "recorded" and leaves that expectation unchanged.
     */
    async reconcile(sku: string, repair: boolean): Promise<ReconcileReport> {
      const snap = await live.snapshot(sku);
      const totals = await db.orderTotals(sku);
      if (totals.stock === null) throw notFound(sku);
      const databaseUnits = totals.stock;
      if (snap.unitsLeft === null) {
        if (repair) await reload(sku);
        return { liveUnits: -1, databaseUnits, inFlightUnits: 0, drift: 0, repaired: repair };
      }
      const inFlightUnits = snap.acceptedUnits - totals.recordedUnits;
      const drift = snap.unitsLeft - (databaseUnits - inFlightUnits);
      const repaired = repair && drift !== 0 && (await live.adjust(sku, -drift));
      if (repaired) await live.announce(sku);
      return { liveUnits: snap.unitsLeft, databaseUnits, inFlightUnits, drift, repaired };
    },
  };
}

/** The admin use cases. */
export type Admin = ReturnType<typeof createAdmin>;
