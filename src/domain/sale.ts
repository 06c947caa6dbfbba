/** A sale as the gate and the admin API see it. Times are ms since the epoch. */
export interface Sale {
  readonly sku: string;
  readonly name: string;
  readonly totalStock: number;
  readonly perCustomerLimit: number;
  readonly startsAtMs: number;
  readonly endsAtMs: number;
  /** Sale admission token bucket: refill per second, and capacity. */
  readonly admissionRate: number;
  readonly admissionBurst: number;
  readonly paused: boolean;
}
