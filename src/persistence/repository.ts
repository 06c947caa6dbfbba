/**
 * Products and orders in PostgreSQL for the gate's read and admin paths, through MikroORM
 * (entity operations where they fit, SQL through its connection for aggregates).
 */
import { IsolationLevel, LockMode, type Transaction } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { SaleDatabase } from '../domain/ports.js';
import { Refusal, invalidArgument } from '../domain/refusal.js';
import type { Sale } from '../domain/sale.js';
import { AdminRequestSchema } from './admin-request.js';
import { OrderSchema, ProductSchema, orderViewOf, type Product } from './entities.js';

function saleOf(p: Product): Sale {
  return {
    sku: p.sku,
    name: p.name,
    totalStock: p.totalStock,
    perCustomerLimit: p.perCustomerLimit,
    startsAtMs: p.startsAt.getTime(),
    endsAtMs: p.endsAt.getTime(),
    admissionRate: p.admissionRate,
    admissionBurst: p.admissionBurst,
    paused: p.paused,
    preQueueLottery: p.preQueueLottery,
  };
}

/** Creates the repository on `em` (each call works on a fork). */
export function createRepository(em: EntityManager): SaleDatabase {
  return {
    async upsertSale(sale) {
      return em.fork().transactional(async (tx) => {
        const existing = await tx.findOne(
          ProductSchema,
          { sku: sale.sku },
          { lockMode: LockMode.PESSIMISTIC_WRITE },
        );
        if (existing) {
          if (existing.totalStock !== sale.totalStock) {
            throw invalidArgument(
              'sale.total_stock',
              `is ${existing.totalStock} and cannot change here; use Restock to add units`,
            );
          }
          tx.assign(existing, {
            name: sale.name,
            perCustomerLimit: sale.perCustomerLimit,
            startsAt: new Date(sale.startsAtMs),
            endsAt: new Date(sale.endsAtMs),
            admissionRate: sale.admissionRate,
            admissionBurst: sale.admissionBurst,
            preQueueLottery: sale.preQueueLottery,
          });
          return { sale: saleOf(existing), created: false };
        }
        const product = tx.create(ProductSchema, {
          sku: sale.sku,
          name: sale.name,
          stock: sale.totalStock,
          totalStock: sale.totalStock,
          perCustomerLimit: sale.perCustomerLimit,
          startsAt: new Date(sale.startsAtMs),
          endsAt: new Date(sale.endsAtMs),
          admissionRate: sale.admissionRate,
          admissionBurst: sale.admissionBurst,
          paused: false,
          preQueueLottery: sale.preQueueLottery,
          createdAt: new Date(),
          updatedAt: new Date(),
        });
        return { sale: saleOf(product), created: true };
      });
    },

    async restock(sku, units, requestKey) {
      return em.fork().transactional(async (tx) => {
        // The row lock serializes this sale's restocks, so the total after each one orders them.
        const product = await tx.findOne(
          ProductSchema,
          { sku },
          { lockMode: LockMode.PESSIMISTIC_WRITE },
        );
        if (!product) return undefined;
        const totalStockAfter = product.totalStock + units;
        // A concurrent request with the same key waits on this insert until its transaction
        // ends, then finds the key taken.
        const claimed = await tx.getConnection().execute<{ request_key: string }[]>(
          `insert into admin_request (request_key, operation, sku, units, total_stock_after)
             values (?, 'restock', ?, ?, ?)
             on conflict (request_key) do nothing
             returning request_key`,
          [requestKey, sku, units, totalStockAfter],
          'all',
          tx.getTransactionContext<Transaction<object>>(),
        );
        if (claimed.length === 0) {
          const known = await tx.findOneOrFail(AdminRequestSchema, { requestKey });
          if (known.sku !== sku || known.units !== units) {
            throw new Refusal(
              'IDEMPOTENCY_KEY_REUSED',
              `this idempotency key was already used for a restock of ${String(known.units)} units of ${known.sku}`,
            );
          }
          return { sale: saleOf(product), totalStockAfter: known.totalStockAfter, replayed: true };
        }
        product.stock += units;
        product.totalStock = totalStockAfter;
        return { sale: saleOf(product), totalStockAfter, replayed: false };
      });
    },

    async setPaused(sku, paused) {
      const fork = em.fork();
      const product = await fork.findOne(ProductSchema, { sku });
      if (!product) return undefined;
      product.paused = paused;
      await fork.flush();
      return saleOf(product);
    },

    async getSale(sku) {
      const product = await em.fork().findOne(ProductSchema, { sku });
      return product ? { sale: saleOf(product), stock: product.stock } : undefined;
    },

    async listSales() {
      return (await em.fork().find(ProductSchema, {}, { orderBy: { sku: 'asc' } })).map(saleOf);
    },

    async orderTotals(sku) {
      // One statement: the stock and the recorded units are read from the same snapshot.
      const [row] = await em
        .fork()
        .getConnection()
        .execute<
          {
            confirmed: string;
            rejected: string;
            units: string | null;
            stock: number | null;
            total_stock: string | null;
          }[]
        >(
          `select count(*) filter (where status = 'CONFIRMED') as confirmed,
                  count(*) filter (where status = 'REJECTED') as rejected,
                  sum(quantity) as units,
                  (select stock from product where sku = ?) as stock,
                  (select total_stock from product where sku = ?) as total_stock
             from orders where sku = ?`,
          [sku, sku, sku],
        );
      return {
        confirmed: Number(row?.confirmed ?? 0),
        rejected: Number(row?.rejected ?? 0),
        recordedUnits: Number(row?.units ?? 0),
        stock: row?.stock ?? null,
        totalStock: row?.total_stock == null ? null : Number(row.total_stock),
      };
    },

    async reloadSnapshot(sku, orderIds) {
      // Repeatable read: the sale, its stock and total, and the orders, as of one moment.
      return em.fork().transactional(
        async (tx) => {
          const connection = tx.getConnection();
          const ctx = tx.getTransactionContext<Transaction<object>>();
          const all = <T>(sql: string, params: unknown[]) =>
            connection.execute<T[]>(sql, params, 'all', ctx);
          const product = await tx.findOne(ProductSchema, { sku });
          if (!product) return undefined;
          const customers = await all<{ customer_id: string; units: string; held: string }>(
            `select customer_id, sum(quantity) as units,
                    coalesce(sum(quantity) filter (where status <> 'REJECTED'), 0) as held
               from orders where sku = ? group by customer_id`,
            [sku],
          );
          const recorded = await all<{ order_id: string }>(
            `select order_id from orders
              where order_id in (select (jsonb_array_elements_text(?::jsonb))::uuid)`,
            [JSON.stringify(orderIds)],
          );
          return {
            sale: saleOf(product),
            stock: product.stock,
            recordedUnits: customers.reduce((sum, c) => sum + Number(c.units), 0),
            holdings: new Map(customers.map((c) => [c.customer_id, Number(c.held)])),
            recordedOrderIds: new Set(recorded.map((r) => r.order_id)),
          };
        },
        { isolationLevel: IsolationLevel.REPEATABLE_READ, readOnly: true },
      );
    },

    async findOrder(orderId) {
      const o = await em.fork().findOne(OrderSchema, { orderId });
      return o ? orderViewOf(o) : undefined;
    },
  };
}
