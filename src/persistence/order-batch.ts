/**
 * The worker's transaction in PostgreSQL: one transaction per batch of accepted orders. Skips
 * orders already recorded (and reads back how they were recorded), decides each new order
 * against the product's stock (row-locked), inserts the new orders with their final status,
 * and decrements the stock with the `stock >= quantity` guard. Set-based SQL through
 * MikroORM's transaction: its connection for the small statements, its Kysely handle for the
 * insert, whose values are bound parameters (MikroORM's `execute` writes every value into the
 * SQL text, which for a batch of thousands of orders costs more than the insert).
 */
import type { Transaction } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { CompiledQuery } from 'kysely';
import {
  decide,
  type BatchResult,
  type Decision,
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

/**
 * Inserts decided orders, one array per column ($1..$12, times in epoch milliseconds), skipping
 * any whose id or idempotency key is already recorded: the caller compares the count inserted
 * with the count given.
 */
const insertOrdersSql = `insert into orders (order_id, sku, quantity, customer_id, idempotency_key_hash, status,
    reject_reason, accepted_at, finalized_at, request_id, kafka_partition, kafka_offset)
  select order_id, sku, quantity, customer_id, key_hash, status, reject_reason,
         timestamptz 'epoch' + accepted_ms * interval '1 millisecond',
         timestamptz 'epoch' + finalized_ms * interval '1 millisecond',
         request_id, kafka_partition, kafka_offset
    from unnest($1::uuid[], $2::text[], $3::int[], $4::text[], $5::text[], $6::text[], $7::text[],
                $8::bigint[], $9::bigint[], $10::text[], $11::int[], $12::bigint[])
      as r(order_id, sku, quantity, customer_id, key_hash, status, reject_reason, accepted_ms,
           finalized_ms, request_id, kafka_partition, kafka_offset)
  on conflict do nothing`;

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
  const all: Statement = <T>(sql: string, params: unknown[] = []) =>
    connection.execute<T[]>(sql, params, 'all', ctx);

  {
    // The usual batch, delivered for the first time: none of its orders is recorded, so it is
    // decided and inserted whole, under a savepoint. If the insert skips any order (recorded
    // before: a redelivery, a relay re-publish, a key another order holds; or twice in the
    // batch), the savepoint is rolled back and the batch takes the path below, which looks first.
    const decided = await decideLocked(all, batch);
    await all('savepoint first_delivery');
    if ((await insertOrders(tx, decided)) === decided.length) {
      await takeStock(all, decided);
      return { decided, duplicates: [], keyConflicts: [] };
    }
    await all('rollback to savepoint first_delivery');
  }

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

  const decided = await decideLocked(all, fresh);
  const inserted = await insertOrders(tx, decided);
  if (inserted !== decided.length) {
    throw new GuardViolation(
      `inserted ${inserted} of ${decided.length} new orders: another writer raced this batch`,
    );
  }
  await takeStock(all, decided);
  return { decided, duplicates, keyConflicts };
}

/** A statement run in the batch's transaction, with MikroORM's `?` placeholders. */
type Statement = <T>(sql: string, params?: unknown[]) => Promise<T[]>;

/** Locks the products of `orders` and decides each order against their stock. */
async function decideLocked(all: Statement, orders: readonly IncomingOrder[]): Promise<Decision[]> {
  // Row locks: no other transaction moves these stocks until we commit.
  const skus = [...new Set(orders.map((o) => o.order.sku))];
  const products = await all<{ sku: string; stock: number }>(
    'select sku, stock from product where sku in (select jsonb_array_elements_text(?::jsonb)) order by sku for update',
    [JSON.stringify(skus)],
  );
  return decide(orders, new Map(products.map((p) => [p.sku, p.stock])), new Date());
}

/** Takes the confirmed quantities from the stock, each sku under its `stock >= quantity` guard. */
async function takeStock(all: Statement, decided: readonly Decision[]): Promise<void> {
  const taken = new Map<string, number>();
  for (const d of decided) {
    if (d.status === 'CONFIRMED')
      taken.set(
        d.incoming.order.sku,
        (taken.get(d.incoming.order.sku) ?? 0) + d.incoming.order.quantity,
      );
  }
  if (taken.size === 0) return;
  const updated = await all<{ sku: string }>(
    `update product p set stock = p.stock - t.qty, updated_at = now()
       from jsonb_to_recordset(?::jsonb) as t(sku text, qty int)
      where p.sku = t.sku and p.stock >= t.qty
      returning p.sku`,
    [JSON.stringify([...taken].map(([sku, qty]) => ({ sku, qty })))],
  );
  if (updated.length !== taken.size) throw new GuardViolation('a stock guard failed under lock');
}

/** Inserts `decided` in one statement, skipping any already recorded; returns how many it inserted. */
async function insertOrders(tx: EntityManager, decided: readonly Decision[]): Promise<number> {
  const orders = decided.map((d) => d.incoming.order);
  const columns = [
    orders.map((o) => o.orderId),
    orders.map((o) => o.sku),
    orders.map((o) => o.quantity),
    orders.map((o) => o.customerId),
    orders.map((o) => o.idempotencyKeyHash),
    decided.map((d) => d.status),
    decided.map((d) => d.rejectReason),
    orders.map((o) => o.acceptedAtMs),
    decided.map((d) => d.finalizedAt.getTime()),
    orders.map((o) => o.requestId),
    decided.map((d) => d.incoming.partition),
    decided.map((d) => d.incoming.offset),
  ];
  // The transaction's Kysely handle: the statement runs on the transaction's connection.
  const result = await tx.getKysely().executeQuery(CompiledQuery.raw(insertOrdersSql, columns));
  return Number(result.numAffectedRows ?? -1);
}
