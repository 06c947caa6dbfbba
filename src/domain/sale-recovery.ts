/**
 * Recovering a sale the live store lost (Redis restarted without its data, a key deleted):
 * the sale still exists in the order database, so buyers are told to retry shortly
 * (SALE_STATE_RELOADING), never that it does not exist, while one gate reloads it — as the
 * admin reload does, once the worker has recorded every accepted order.
 */
import type { LostSales } from './ports.js';
import { Refusal } from './refusal.js';

/** How a reload attempt ended: loaded, waiting for the worker, or failed. */
export type ReloadOutcome = 'loaded' | 'pending' | 'failed';

/** What the recovery needs. */
export interface SaleRecoveryDeps {
  /** True when the order database knows the sale. */
  readonly saleExists: (sku: string) => Promise<boolean>;
  /** Loads a lost sale from the database: 'pending' while the worker is behind (nothing written). */
  readonly reload: (sku: string) => Promise<'loaded' | 'pending'>;
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

/** How long the database's answer about a sku is trusted: a sale that exists, and one that does not. */
const knownForMs = 5000;
const unknownForMs = 1000;
/** Skus remembered at most; past it the memory starts over (a flood of made-up skus). */
const maxRemembered = 10_000;
/** A reload is attempted at most this often per sale by one gate. */
const attemptEveryMs = 500;
/** The reload lock lapses by itself after this, should its holder die. */
const lockMs = 30_000;

/** Creates the recovery of lost sales. */
export function createSaleRecovery(deps: SaleRecoveryDeps): LostSales {
  const known = new Map<string, { exists: boolean; until: number }>();
  const asking = new Map<string, Promise<boolean>>();
  const lastAttempt = new Map<string, number>();

  /** The database's answer, remembered for a while and asked once however many requests wait. */
  async function exists(sku: string): Promise<boolean> {
    const remembered = known.get(sku);
    if (remembered && remembered.until > deps.now()) return remembered.exists;
    let answer = asking.get(sku);
    if (!answer) {
      answer = deps.saleExists(sku).finally(() => asking.delete(sku));
      asking.set(sku, answer);
      const found = await answer;
      if (known.size >= maxRemembered) known.clear();
      known.set(sku, { exists: found, until: deps.now() + (found ? knownForMs : unknownForMs) });
      return found;
    }
    return answer;
  }

  /** Starts a reload of `sku` unless one ran lately here or runs in another gate. */
  function startReload(sku: string): void {
    const now = deps.now();
    if (now - (lastAttempt.get(sku) ?? -Infinity) < attemptEveryMs) return;
    if (lastAttempt.size >= maxRemembered) lastAttempt.clear();
    lastAttempt.set(sku, now);
    void (async () => {
      const release = await deps.lock(sku, lockMs);
      if (!release) return;
      try {
        deps.onReload(sku, await deps.reload(sku));
      } finally {
        await release();
      }
    })().catch((error: unknown) => {
      deps.onReload(sku, 'failed', error);
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
