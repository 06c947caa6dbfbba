/**
 * The admin requests the database remembers, so that a retried admin mutation changes nothing
 * more (its own schema file: src/persistence/entities.ts holds the order path's tables).
 */
import { EntitySchema } from '@mikro-orm/core';

/** An admin mutation, recorded under its idempotency key in the transaction that made it. */
export interface AdminRequest {
  /** The caller's idempotency key. */
  requestKey: string;
  /** What was done: only `restock` so far (the other admin mutations are idempotent). */
  operation: 'restock';
  sku: string;
  /** Units added. */
  units: number;
  /**
   * The sale's total stock right after this request, under the product's row lock: a version
   * that orders the sale's restocks, so the live store can tell which of them it already holds.
   */
  totalStockAfter: number;
  createdAt: Date;
}

/** MikroORM schema of {@link AdminRequest}. */
export const AdminRequestSchema = new EntitySchema<AdminRequest>({
  name: 'AdminRequest',
  tableName: 'admin_request',
  properties: {
    requestKey: { type: 'string', primary: true, fieldName: 'request_key' },
    operation: { type: 'string' },
    sku: { type: 'string' },
    units: { type: 'bigint', runtimeType: 'number' },
    totalStockAfter: { type: 'bigint', fieldName: 'total_stock_after', runtimeType: 'number' },
    createdAt: { type: 'datetime', fieldName: 'created_at', onCreate: () => new Date() },
  },
});
