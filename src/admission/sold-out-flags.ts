/**
 * Local memory of sold-out sales, so a gate can refuse without touching stock once a sale is
 * out. A flag lives `ttlMs` at most, so a restock made through another gate process is seen
 * within that time even if its notification is missed; {@link SoldOutFlags.clear} drops it at once.
 */
export class SoldOutFlags {
  private readonly until = new Map<string, number>();

  constructor(
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** True while the sale is flagged sold out. */
  has(sku: string): boolean {
    const until = this.until.get(sku);
    if (until === undefined) return false;
    if (until > this.now()) return true;
    this.until.delete(sku);
    return false;
  }

  /** Flags the sale sold out. */
  set(sku: string): void {
    this.until.set(sku, this.now() + this.ttlMs);
  }

  /** How many sales are flagged now. */
  count(): number {
    const now = this.now();
    return [...this.until.values()].filter((until) => until > now).length;
  }

  /** Drops the flag (the sale was restocked). */
  clear(sku: string): void {
    this.until.delete(sku);
  }
}
