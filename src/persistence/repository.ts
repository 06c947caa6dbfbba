/**
 * Products and orders in PostgreSQL for the gate's read and admin paths, through MikroORM
 * (entity operations where they fit, SQL through its connection for aggregates).
 */
import { LockMode } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { SaleDatabase } from '../domain/ports.js';
import { invalidArgument } from '../domain/refusal.js';
import type { Sale } from '../domain/sale.js';
import { OrderSchema, ProductSchema, type Product } from './entities.js';

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
          createdAt: new Date(),
          updatedAt: new Date(),
        });
        return { sale: saleOf(product), created: true };
      });
    },

    async restock(sku, units) {
      const fork = em.fork();
      // An atomic increment in SQL: two restocks at once both count.
      await fork
        .getConnection()
        .execute(
          'update product set stock = stock + ?, total_stock = total_stock + ?, updated_at = now() where sku = ?',
          [units, units, sku],
        );
      const product = await fork.findOne(ProductSchema, { sku });
      return product ? saleOf(product) : undefined;
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
          { confirmed: string; rejected: string; units: string | null; stock: number | null }[]
        >(
          `select count(*) filter (where status = 'CONFIRMED') as confirmed,
                  count(*) filter (where status = 'REJECTED') as rejected,
                  sum(quantity) as units,
                  (select stock from product where sku = ?) as stock
             from orders where sku = ?`,
          [sku, sku],
        );
      return {
        confirmed: Number(row?.confirmed ?? 0),
        rejected: Number(row?.rejected ?? 0),
        recordedUnits: Number(row?.units ?? 0),
        stock: row?.stock ?? null,
      };
    },

    async findOrder(orderId) {
      const o = await em.fork().findOne(OrderSchema, { orderId });
      if (!o) return undefined;
      return {
        order: {
          orderId: o.orderId,
          sku: o.sku,
          quantity: o.quantity,
          customerId: o.customerId,
          idempotencyKeyHash: o.idempotencyKeyHash.trim(),
          acceptedAtMs: o.acceptedAt.getTime(),
          requestId: o.requestId,
        },
        status: o.status,
        rejectReason: o.rejectReason,
        finalizedAtMs: o.finalizedAt?.getTime() ?? null,
      };
    },
  };
}
