/**
 * Loading sales into Redis: the settings hash, the stock counter and the index of skus, in
 * one MULTI so the gate never sees half a sale.
 */
import type { Redis } from 'ioredis';
import type { Sale } from '../domain/sale.js';
import type { Keys } from './keys.js';

/** Writes a sale's settings and sets its stock counter to `unitsLeft`, atomically. */
export async function loadSale(
  redis: Redis,
  keys: Keys,
  sale: Sale,
  unitsLeft: number,
): Promise<void> {
  await redis
    .multi()
    .hset(keys.sale(sale.sku), {
      name: sale.name,
      total: sale.totalStock,
      limit: sale.perCustomerLimit,
      starts_at_ms: sale.startsAtMs,
      ends_at_ms: sale.endsAtMs,
      rate: sale.admissionRate,
      burst: sale.admissionBurst,
      paused: sale.paused ? '1' : '0',
    })
    .set(keys.stock(sale.sku), unitsLeft)
    .sadd(keys.sales, sale.sku)
    .exec();
}
