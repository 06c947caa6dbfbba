/**
 * Refusing a closed sale (sold out, or ended) without Redis. Once a sale is closed (the gate's
 * sold-out or ended flag), the only request that must still reach Redis is a retry of an order
 * the sale accepted: it is owed that order (I5). The sale's accepted keys (the idempotency key
 * hashes of its accepted orders, kept by place-order.lua, bounded by the stock) tell those
 * apart, so every other request is refused at the edge: no script call, and no refusal stored
 * per key for a crowd that arrives after the sell-out or the end.
 *
 * The gate loads a sale's keys when it flags the sale, and keeps them while their count in
 * Redis stays the same (the set only grows, so the same count is the same set); a sale change
 * (restock, reload) drops them. Keys Redis does not hold completely (after a reload) are not
 * used: the sale's refusals then go through the scripts as before. Sold-out refusals are added
 * to the sale's statistics in one call per sale every {@link reportEveryMs} at most (the
 * statistics count no ended refusals).
 */

/** The refusals a closed sale gets at the edge. */
export type ClosedReason = 'SOLD_OUT' | 'SALE_ENDED';

/** How long refusals wait to be reported together. */
export const reportEveryMs = 100;

/** Where the accepted keys live (src/redis/accepted-keys-source.ts). */
export interface AcceptedKeySource {
  /** How many members the sale's set has (the completeness marker included). */
  count(sku: string): Promise<number>;
  /** The sale's accepted key hashes, or undefined when the set is not complete. */
  members(sku: string): Promise<readonly string[] | undefined>;
  /** Adds `refused` sold-out refusals to the sale's statistics. */
  reportRefusals(sku: string, refused: number): Promise<void>;
}

/** A gate's copy of its closed sales' accepted keys. */
export class AcceptedKeys {
  private readonly known = new Map<
    string,
    { readonly count: number; readonly keys: Set<string> }
  >();
  private readonly loading = new Set<string>();
  private readonly refusedCount: Record<ClosedReason, number> = { SOLD_OUT: 0, SALE_ENDED: 0 };
  /** Refusals per sale not yet in the sale's statistics. */
  private readonly unreported = new Map<string, number>();
  private reportTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly source: AcceptedKeySource,
    private readonly onError: (error: unknown, sku: string) => void,
  ) {}

  /**
   * True when `keyHash` is known to hold no accepted order of `sku`, counted as a refusal for
   * `reason`: the caller, which knows the sale is closed, refuses it without Redis. False while
   * the keys are unknown, and for a key that holds an accepted order (owed the order).
   */
  refuses(sku: string, keyHash: string, reason: ClosedReason): boolean {
    const known = this.known.get(sku);
    if (known === undefined || known.keys.has(keyHash)) return false;
    this.refusedCount[reason]++;
    if (reason === 'SOLD_OUT') this.unreport(sku, 1);
    return true;
  }

  /** Requests refused by {@link AcceptedKeys.refuses} so far, by reason. */
  refusals(): Readonly<Record<ClosedReason, number>> {
    return { ...this.refusedCount };
  }

  /** Brings the sale's keys up to date in the background (the sale was just flagged closed). */
  refresh(sku: string): void {
    if (this.loading.has(sku)) return;
    this.loading.add(sku);
    this.load(sku)
      .catch((error: unknown) => {
        this.known.delete(sku);
        this.onError(error, sku);
      })
      .finally(() => this.loading.delete(sku));
  }

  /** Drops the sale's keys (it changed: restocked, reloaded). */
  forget(sku: string): void {
    this.known.delete(sku);
  }

  private unreport(sku: string, refused: number): void {
    this.unreported.set(sku, (this.unreported.get(sku) ?? 0) + refused);
    this.reportTimer ??= setTimeout(() => {
      this.reportTimer = undefined;
      this.report();
    }, reportEveryMs).unref();
  }

  private report(): void {
    const batch = [...this.unreported];
    this.unreported.clear();
    for (const [sku, refused] of batch) {
      this.source.reportRefusals(sku, refused).catch((error: unknown) => {
        // Reported with the next batch.
        this.unreport(sku, refused);
        this.onError(error, sku);
      });
    }
  }

  private async load(sku: string): Promise<void> {
    const count = await this.source.count(sku);
    if (this.known.get(sku)?.count === count) return;
    const members = await this.source.members(sku);
    if (members === undefined) this.known.delete(sku);
    else this.known.set(sku, { count, keys: new Set(members) });
  }
}
