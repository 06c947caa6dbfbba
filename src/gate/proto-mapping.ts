/** Domain <-> proto messages for the gate's services: one home for each conversion. */
import { create } from '@bufbuild/protobuf';
import { timestampFromMs, timestampMs, type Timestamp } from '@bufbuild/protobuf/wkt';
import { OrderSchema, type Order } from '../../gen/fluxgate/v1/order_pb.js';
import {
  SaleSchema,
  SaleState,
  StockSchema,
  type Sale as SaleMessage,
  type Stock,
} from '../../gen/fluxgate/v1/sale_pb.js';
import { orderStatusToProto, rejectReasonToProto } from '../contract/order-status.js';
import type { OrderView } from '../domain/order-view.js';
import type { Sale } from '../domain/sale.js';
import type { StockView } from '../domain/stock.js';

/** An order view as the proto Order. */
export function orderToProto(view: OrderView): Order {
  return create(OrderSchema, {
    orderId: view.order.orderId,
    sku: view.order.sku,
    quantity: view.order.quantity,
    customerId: view.order.customerId,
    status: orderStatusToProto(view.status),
    rejectReason: rejectReasonToProto(view.rejectReason),
    acceptedAt: timestampFromMs(view.order.acceptedAtMs),
    finalizedAt: view.finalizedAtMs === null ? undefined : timestampFromMs(view.finalizedAtMs),
  });
}

/** A sale as the proto Sale. */
export function saleToProto(sale: Sale): SaleMessage {
  return create(SaleSchema, {
    sku: sale.sku,
    name: sale.name,
    totalStock: BigInt(sale.totalStock),
    perCustomerLimit: sale.perCustomerLimit,
    startsAt: timestampFromMs(sale.startsAtMs),
    endsAt: timestampFromMs(sale.endsAtMs),
    admissionRate: sale.admissionRate,
    admissionBurst: sale.admissionBurst,
    paused: sale.paused,
    preQueueLottery: sale.preQueueLottery,
  });
}

const msOrNaN = (t: Timestamp | undefined) => (t === undefined ? Number.NaN : timestampMs(t));

/** A proto Sale from the admin API as a domain sale (validated later, by the use case). */
export function saleFromProto(message: SaleMessage | undefined): Sale {
  return {
    sku: message?.sku ?? '',
    name: message?.name ?? '',
    totalStock: Number(message?.totalStock ?? 0n),
    perCustomerLimit: message?.perCustomerLimit ?? 0,
    startsAtMs: msOrNaN(message?.startsAt),
    endsAtMs: msOrNaN(message?.endsAt),
    admissionRate: message?.admissionRate ?? 0,
    admissionBurst: message?.admissionBurst ?? 0,
    paused: false,
    preQueueLottery: message?.preQueueLottery ?? false,
  };
}

/** A stock view as the proto Stock. */
export function stockToProto(view: StockView): Stock {
  return create(StockSchema, {
    sku: view.sale.sku,
    unitsLeft: BigInt(Math.max(0, view.unitsLeft)),
    totalStock: BigInt(view.sale.totalStock),
    state: SaleState[view.state],
    startsAt: timestampFromMs(view.sale.startsAtMs),
    endsAt: timestampFromMs(view.sale.endsAtMs),
  });
}
