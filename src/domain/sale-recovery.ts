/**
 * Recovering a sale the live store lost (Redis restarted without its data, a key deleted):
 * the sale still exists in the order database, so buyers are told to retry shortly
 * (SALE_STATE_RELOADING), never that it does not exist, while one gate reloads it — as the
 * admin reload does, once the worker has recorded every accepted order.
 */
import type { LostSales } from './ports.js';
import { Refusal } from './refusal.js';

/**
 * How a reload attempt ended: loaded; `live` when the sale was whole after all (another gate
 * came first: nothing written); waiting for the worker; or failed.
 */
export type ReloadOutcome = 'loaded' | 'live' | 'pending' | 'failed';

/** What the recovery needs. */
export interface SaleRecoveryDeps {
  /** Every sku the order database knows. */
  readonly listSkus: () => Promise<readonly string[]>;
  /** Loads a lost sale from the database: 'pending' while the worker is behind (nothing written). */
  readonly reload: (sku: string) => Promise<'loaded' | 'live' | 'pending'>;
  /**
   * Takes the sale's reload lock shared by every gate for `ms`; resolves a release function, or
   * undefined when another gate holds it.
   */
  readonly lock: (sku: string, ms: number) => Promise<(() => Promise<void>) | undefined>;
  /** Told of every reload attempt this gate made (metrics, the operator's log line). */
  readonly onReload: (sku: string, outcome: ReloadOutcome, error?: unknown) => void;
  /** The delay a buyer is asked to wait before retrying. */
  readonly retryAfterMs: number;
  readonly now: () => number;
}

/**
 * The database's list of skus is trusted this long for a sku it holds, and this long for one it
 * lacks (a sale created since): so a flood of made-up skus costs the database one query per
 * second per gate, however many skus it names.
 */
const listTrustedMs = 5000;
const listTrustedForMissingMs = 1000;
/** A reload is attempted at most this often per sale by one gate. */
const attemptEveryMs = 500;
/** The reload lock lapses by itself after this, should its holder die. */
const lockMs = 30_000;

/** Creates the recovery of lost sales. */
export function createSaleRecovery(deps: SaleRecoveryDeps): LostSales {
  let known: { skus: ReadonlySet<string>; at: number } | undefined;
  let listing: Promise<ReadonlySet<string>> | undefined;
  // Only skus the database knows get here, so this stays as small as the store's sales.
  const lastAttempt = new Map<string, number>();

  /** The database's skus, read again when too old to answer for `sku`; one read at a time. */
  async function exists(sku: string): Promise<boolean> {
    const age = known === undefined ? Infinity : deps.now() - known.at;
    if (known && (known.skus.has(sku) ? age < listTrustedMs : age < listTrustedForMissingMs))
      return known.skus.has(sku);
    listing ??= deps
      .listSkus()
      .then((skus) => {
        const set = new Set(skus);
        known = { skus: set, at: deps.now() };
        return set;
      })
      .finally(() => {
        listing = undefined;
      });
    return (await listing).has(sku);
  }

  /** One reload attempt under the lock; every ending told once. */
  async function reloadUnderLock(sku: string): Promise<void> {
    const release = await deps.lock(sku, lockMs);
    if (!release) return;
    let outcome: ReloadOutcome;
    let failure: unknown;
    try {
      outcome = await deps.reload(sku);
    } catch (error) {
      outcome = 'failed';
      failure = error;
    }
    deps.onReload(sku, outcome, failure);
    // A lock that cannot be released lapses by itself.
    await release().catch(() => undefined);
  }

  /** Starts a reload of `sku` unless one was tried lately here. */
  function startReload(sku: string): void {
    const now = deps.now();
    if (now - (lastAttempt.get(sku) ?? -Infinity) < attemptEveryMs) return;
    lastAttempt.set(sku, now);
    void reloadUnderLock(sku).catch((error: unknown) => {
      deps.onReload(sku, 'failed', error); // the lock itself could not be taken
    });
  }

  return {
    async refusalFor(sku) {
      let found: boolean;
      try {
        found = await exists(sku);
      } catch (error) {
        throw new Refusal(
          'DEPENDENCY_UNAVAILABLE',
          'the sale cannot be looked up right now; nothing was reserved',
          { dependency: 'postgresql', retryAfterMs: deps.retryAfterMs },
          { cause: error },
        );
      }
      if (!found) return new Refusal('SALE_NOT_FOUND', `no sale with sku ${sku}`);
      startReload(sku);
      return new Refusal(
        'SALE_STATE_RELOADING',
        'the sale’s live state is being reloaded; nothing was reserved, retry shortly',
        { retryAfterMs: deps.retryAfterMs },
      );
    },
  };
}
