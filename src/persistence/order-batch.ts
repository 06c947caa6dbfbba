/**
 * The worker's transaction in PostgreSQL: one transaction per batch of accepted orders. Skips
 * orders already recorded (and reads back how they were recorded), decides each new order
 * against the product's stock (row-locked), inserts the new orders with their final status,
 * and decrements the stock with the `stock >= quantity` guard. Set-based SQL through
 * MikroORM's connection, bound to the transaction (the `ctx` argument).
 */
import type { Transaction } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import {
  decide,
  type BatchResult,
  type IncomingOrder,
  type OrderBatchStore,
} from '../domain/order-batch.js';
import type { OrderView } from '../domain/order-view.js';
import { OrderSchema, orderViewOf } from './entities.js';

/** Raised when a guard the locks should make impossible fails: the transaction rolls back. */
export class GuardViolation extends Error {
  override readonly name = 'GuardViolation';
}

/**
 * Which of a batch's orders (JSON recordset of order_id, sku, key_hash) are already recorded,
 * by id or by idempotency key. Two joins, each served by its own index: an OR in one join
 * would scan the whole table for every batch.
 */
export const recordedOrdersSql = `with k as materialized (
    select * from jsonb_to_recordset(?::jsonb) as k(order_id uuid, sku text, key_hash text)
  )
  select o.order_id, o.sku, o.idempotency_key_hash as key_hash from orders o join k on o.order_id = k.order_id
  union
  select o.order_id, o.sku, o.idempotency_key_hash from orders o
    join k on o.sku = k.sku and o.idempotency_key_hash = k.key_hash`;

/** Creates the store on `em`; each batch runs on a fresh fork. */
export function createOrderBatchStore(em: EntityManager): OrderBatchStore {
  return {
    async record(batch) {
      if (batch.length === 0) return { decided: [], duplicates: [], keyConflicts: [] };
      return em.fork().transactional((tx) => recordBatch(tx, batch));
    },
  };
}

async function recordBatch(
  tx: EntityManager,
  batch: readonly IncomingOrder[],
): Promise<BatchResult> {
  const connection = tx.getConnection();
  // Without ctx, execute() would take a pooled connection outside this transaction.
  const ctx = tx.getTransactionContext<Transaction<object>>();
  if (ctx === undefined) throw new Error('no transaction context');
  const all = <T>(sql: string, params: unknown[]) =>
    connection.execute<T[]>(sql, params, 'all', ctx);

  const keys = batch.map(({ order }) => ({
    order_id: order.orderId,
    sku: order.sku,
    key_hash: order.idempotencyKeyHash,
  }));
  const known = await all<{ order_id: string; sku: string; key_hash: string }>(recordedOrdersSql, [
    JSON.stringify(keys),
  ]);
  const storedIds = new Set(known.map((r) => r.order_id));
  const knownIds = new Set(storedIds);
  const heldKeys = new Set(known.map((r) => `${r.sku}\n${r.key_hash}`));

  const fresh: IncomingOrder[] = [];
  const keyConflicts: IncomingOrder[] = [];
  const duplicateIds = new Set<string>();
  for (const incoming of batch) {
    const { orderId, sku, idempotencyKeyHash } = incoming.order;
    const key = `${sku}\n${idempotencyKeyHash}`;
    if (knownIds.has(orderId)) {
      // A second copy within this batch is recorded (and announced) with its first copy.
      if (storedIds.has(orderId)) duplicateIds.add(orderId);
    } else if (heldKeys.has(key)) keyConflicts.push(incoming);
    else {
      fresh.push(incoming);
      knownIds.add(orderId);
      heldKeys.add(key);
    }
  }
  // Rare (redelivery, relay re-publish), so the extra read costs nothing on the usual path.
  const duplicates: OrderView[] =
    duplicateIds.size === 0
      ? []
      : (await tx.find(OrderSchema, { orderId: { $in: [...duplicateIds] } })).map(orderViewOf);
  if (fresh.length === 0) return { decided: [], duplicates, keyConflicts };

  // Row locks: no other transaction moves these stocks until we commit.
  const skus = [...new Set(fresh.map((f) => f.order.sku))];
  const products = await all<{ sku: string; stock: number }>(
    'select sku, stock from product where sku in (select jsonb_array_elements_text(?::jsonb)) order by sku for update',
    [JSON.stringify(skus)],
  );
  const decided = decide(fresh, new Map(products.map((p) => [p.sku, p.stock])), new Date());

  const rows = decided.map((d) => ({
    order_id: d.incoming.order.orderId,
    sku: d.incoming.order.sku,
    quantity: d.incoming.order.quantity,
    customer_id: d.incoming.order.customerId,
    key_hash: d.incoming.order.idempotencyKeyHash,
    status: d.status,
    reject_reason: d.rejectReason,
    accepted_at: new Date(d.incoming.order.acceptedAtMs).toISOString(),
    finalized_at: d.finalizedAt.toISOString(),
    request_id: d.incoming.order.requestId,
    kafka_partition: d.incoming.partition,
    kafka_offset: d.incoming.offset,
  }));
  const inserted = await all<{ order_id: string }>(
    `insert into orders (order_id, sku, quantity, customer_id, idempotency_key_hash, status, reject_reason,
                         accepted_at, finalized_at, request_id, kafka_partition, kafka_offset)
     select order_id, sku, quantity, customer_id, key_hash, status, reject_reason,
            accepted_at, finalized_at, request_id, kafka_partition, kafka_offset
       from jsonb_to_recordset(?::jsonb) as r(order_id uuid, sku text, quantity int, customer_id text, key_hash text,
            status text, reject_reason text, accepted_at timestamptz, finalized_at timestamptz, request_id text,
            kafka_partition int, kafka_offset bigint)
     on conflict do nothing
     returning order_id`,
    [JSON.stringify(rows)],
  );
  if (inserted.length !== rows.length) {
    throw new GuardViolation(
      `inserted ${inserted.length} of ${rows.length} new orders: another writer raced this batch`,
    );
  }

  const taken = new Map<string, number>();
  for (const d of decided) {
    if (d.status === 'CONFIRMED')
      taken.set(
        d.incoming.order.sku,
        (taken.get(d.incoming.order.sku) ?? 0) + d.incoming.order.quantity,
      );
  }
  if (taken.size > 0) {
    const updated = await all<{ sku: string }>(
      `update product p set stock = p.stock - t.qty, updated_at = now()
         from jsonb_to_recordset(?::jsonb) as t(sku text, qty int)
        where p.sku = t.sku and p.stock >= t.qty
        returning p.sku`,
      [JSON.stringify([...taken].map(([sku, qty]) => ({ sku, qty })))],
    );
    if (updated.length !== taken.size) throw new GuardViolation('a stock guard failed under lock');
  }
  return { decided, duplicates, keyConflicts };
}
