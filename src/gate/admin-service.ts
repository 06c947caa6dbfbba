/** AdminService: maps proto <-> domain and calls the admin use cases; no logic of its own. */
import { create } from '@bufbuild/protobuf';
import type { ServiceImpl } from '@connectrpc/connect';
import {
  GetSaleStatsResponseSchema,
  ListSalesResponseSchema,
  PauseSaleResponseSchema,
  ReconcileResponseSchema,
  RestockResponseSchema,
  ResumeSaleResponseSchema,
  SaleStatsSchema,
  UpsertSaleResponseSchema,
  type AdminService,
} from '../../gen/fluxgate/v1/admin_pb.js';
import type { Admin } from '../domain/admin.js';
import { checkSku } from '../domain/order.js';
import { saleFromProto, saleToProto, stockToProto } from './proto-mapping.js';

/** Creates the AdminService implementation (guard it with createAdminAuth). */
export function createAdminService(admin: Admin): ServiceImpl<typeof AdminService> {
  return {
    async upsertSale(req) {
      const { sale, created, liveReloadPending } = await admin.upsertSale(saleFromProto(req.sale));
      return create(UpsertSaleResponseSchema, {
        sale: saleToProto(sale),
        created,
        liveReloadPending,
      });
    },
    async restock(req) {
      const r = await admin.restock(
        checkSku(req.sku),
        Number(req.units),
        req.idempotencyKey === '' ? undefined : req.idempotencyKey,
      );
      return create(RestockResponseSchema, {
        sale: saleToProto(r.sale),
        stock: r.stock === undefined ? undefined : stockToProto(r.stock),
        liveReloadPending: r.liveReloadPending,
        replayed: r.replayed,
      });
    },
    async pauseSale(req) {
      const { sale, liveReloadPending } = await admin.setPaused(checkSku(req.sku), true);
      return create(PauseSaleResponseSchema, { sale: saleToProto(sale), liveReloadPending });
    },
    async resumeSale(req) {
      const { sale, liveReloadPending } = await admin.setPaused(checkSku(req.sku), false);
      return create(ResumeSaleResponseSchema, { sale: saleToProto(sale), liveReloadPending });
    },
    async listSales() {
      return create(ListSalesResponseSchema, { sales: (await admin.listSales()).map(saleToProto) });
    },
    async getSaleStats(req) {
      const s = await admin.stats(checkSku(req.sku));
      return create(GetSaleStatsResponseSchema, {
        stats: create(SaleStatsSchema, {
          sku: req.sku,
          accepted: BigInt(s.accepted),
          soldOutRefusals: BigInt(s.soldOut),
          rateLimited: BigInt(s.rateLimited),
          replays: BigInt(s.replays),
          pending: BigInt(s.pending),
          confirmed: BigInt(s.confirmed),
          rejected: BigInt(s.rejected),
          deadLettered: BigInt(s.deadLettered),
        }),
      });
    },
    async reconcile(req) {
      const r = await admin.reconcile(checkSku(req.sku), req.repair);
      return create(ReconcileResponseSchema, {
        sku: req.sku,
        liveUnits: BigInt(r.liveUnits),
        databaseUnits: BigInt(r.databaseUnits),
        inFlightUnits: BigInt(r.inFlightUnits),
        drift: BigInt(r.drift),
        repaired: r.repaired,
      });
    },
  };
}
