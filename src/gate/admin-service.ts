/** AdminService: maps proto <-> domain and calls the admin use cases; no logic of its own. */
import { create } from '@bufbuild/protobuf';
import { durationFromMs, timestampFromMs } from '@bufbuild/protobuf/wkt';
import type { ServiceImpl } from '@connectrpc/connect';
import {
  GetSaleStatsResponseSchema,
  ListSalesResponseSchema,
  PauseSaleResponseSchema,
  ReconcileResponseSchema,
  RestockResponseSchema,
  ResumeSaleResponseSchema,
  SaleLiveStatsSchema,
  SaleStatsSchema,
  UpsertSaleResponseSchema,
  WatchSaleStatsResponseSchema,
  type AdminService,
  type SaleStats as SaleStatsProto,
} from '../../gen/fluxgate/v1/admin_pb.js';
import { SaleState } from '../../gen/fluxgate/v1/sale_pb.js';
import type { Admin, SaleStats } from '../domain/admin.js';
import { checkSku } from '../domain/order.js';
import type { SaleWatch } from '../domain/sale-watch.js';
import { saleFromProto, saleToProto, stockToProto } from './proto-mapping.js';

/** A sale's counters on the wire. */
function statsToProto(sku: string, s: SaleStats): SaleStatsProto {
  return create(SaleStatsSchema, {
    sku,
    accepted: BigInt(s.accepted),
    soldOutRefusals: BigInt(s.soldOut),
    rateLimited: BigInt(s.rateLimited),
    replays: BigInt(s.replays),
    pending: BigInt(s.pending),
    confirmed: BigInt(s.confirmed),
    rejected: BigInt(s.rejected),
    deadLettered: BigInt(s.deadLettered),
  });
}

/** Creates the AdminService implementation (guard it with createAdminAuth). */
export function createAdminService(
  admin: Admin,
  saleWatch: Pick<SaleWatch, 'watch'>,
): ServiceImpl<typeof AdminService> {
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
      const stats = await admin.stats(checkSku(req.sku));
      return create(GetSaleStatsResponseSchema, { stats: statsToProto(req.sku, stats) });
    },
    async *watchSaleStats(req, context) {
      for await (const s of saleWatch.watch(checkSku(req.sku), context.signal)) {
        yield create(WatchSaleStatsResponseSchema, {
          stats: create(SaleLiveStatsSchema, {
            counters: statsToProto(req.sku, s.stats),
            unitsLeft: BigInt(s.stock.unitsLeft),
            state: SaleState[s.stock.state],
            admissionRate: s.admissionRate,
            refusalRate: s.refusalRate,
            queueLength: BigInt(s.queueLength),
            estimatedWait: durationFromMs(s.estimatedWaitMs),
            outboxDepth: BigInt(s.outboxDepth),
            consumerLag: BigInt(s.consumerLag),
            readAt: timestampFromMs(s.readAtMs),
          }),
        });
      }
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
