/**
 * Local memory of sales in a closed state (one instance per state: sold out, ended), so a gate
 * can refuse without asking Redis whether they still are. A flag lives `ttlMs` at most, so a
 * change made through another gate process (a restock, a longer window) is seen within that
 * time even if its notification is missed; {@link SaleFlags.clear} drops it at once.
 */
export class SaleFlags {
  private readonly until = new Map<string, number>();

  constructor(
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** True while the sale is flagged. */
  has(sku: string): boolean {
    const until = this.until.get(sku);
    if (until === undefined) return false;
    if (until > this.now()) return true;
    this.until.delete(sku);
    return false;
  }

  /** Flags the sale. */
  set(sku: string): void {
    this.until.set(sku, this.now() + this.ttlMs);
  }

  /** How many sales are flagged now. */
  count(): number {
    const now = this.now();
    return [...this.until.values()].filter((until) => until > now).length;
  }

  /** Drops the flag (the sale changed). */
  clear(sku: string): void {
    this.until.delete(sku);
  }
}
