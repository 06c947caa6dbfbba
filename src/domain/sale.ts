import { checkSku } from './order.js';
import { invalidArgument } from './refusal.js';

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
  /**
   * Buyers arriving before the start get queue tickets, ordered at the start by a seeded draw
   * (docs/waiting-room.md); without it they are refused SALE_NOT_OPEN without one.
   */
  readonly preQueueLottery: boolean;
}

/** Largest total stock and restock of one sale. */
export const maxStock = 1_000_000_000;
/** Largest per-customer limit and admission rate or burst. */
export const maxLimit = 1_000_000;

/** Checks a sale from the admin API; throws an INVALID_ARGUMENT Refusal naming the field. */
export function validateSale(sale: Sale): Sale {
  const between = (field: string, value: number, min: number, max: number) => {
    if (!Number.isInteger(value) || value < min || value > max)
      throw invalidArgument(field, `must be an integer from ${min} to ${max}`);
  };
  checkSku(sale.sku, 'sale.sku');
  if (sale.name.length < 1 || sale.name.length > 200)
    throw invalidArgument('sale.name', 'must be 1-200 characters');
  between('sale.total_stock', sale.totalStock, 1, maxStock);
  between('sale.per_customer_limit', sale.perCustomerLimit, 1, maxLimit);
  between('sale.admission_rate', sale.admissionRate, 1, maxLimit);
  between('sale.admission_burst', sale.admissionBurst, 1, maxLimit);
  if (!Number.isFinite(sale.startsAtMs)) throw invalidArgument('sale.starts_at', 'is required');
  if (!Number.isFinite(sale.endsAtMs) || sale.endsAtMs <= sale.startsAtMs)
    throw invalidArgument('sale.ends_at', 'is required and must be after starts_at');
  return sale;
}
