/**
 * Local memory of sales in a closed state (one instance per state: sold out, ended), so a gate
 * can refuse without asking Redis whether they still are. A flag lives `ttlMs`; when it lapses,
 * one request (the probe) is let through to ask Redis, and the others are still refused until
 * the probe's answer sets the flag again or clears it, or the probe's own `ttlMs` runs out. So a
 * change made through another gate process (a restock, a longer window) is seen within about
 * `ttlMs` even if its notification is missed, and a flood costs one Redis call per `ttlMs`, not
 * a burst at every lapse. {@link SaleFlags.clear} drops a flag at once.
 */
export class SaleFlags {
  private readonly until = new Map<string, number>();
  /** Sales whose lapsed flag a request is probing: until when it may. */
  private readonly probes = new Map<string, number>();

  constructor(
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * True while the sale is flagged. After the flag lapses, false for one caller (the probe, who
   * asks Redis), then true again while that probe is out.
   */
  has(sku: string): boolean {
    const until = this.until.get(sku);
    if (until === undefined) return false;
    const now = this.now();
    if (until > now) return true;
    if ((this.probes.get(sku) ?? 0) > now) return true;
    this.probes.set(sku, now + this.ttlMs);
    return false;
  }

  /** Flags the sale; true when it was not flagged (new, or renewed by a probe). */
  set(sku: string): boolean {
    const now = this.now();
    const live = (this.until.get(sku) ?? 0) > now;
    this.until.set(sku, now + this.ttlMs);
    this.probes.delete(sku);
    return !live;
  }

  /** How many sales are flagged now (a lapsed flag under probe included). */
  count(): number {
    const now = this.now();
    return [...this.until].filter(
      ([sku, until]) => until > now || (this.probes.get(sku) ?? 0) > now,
    ).length;
  }

  /** Drops the flag (the sale changed, or Redis says it is no longer closed). */
  clear(sku: string): void {
    this.until.delete(sku);
    this.probes.delete(sku);
  }
}
