/**
 * The database model, as MikroORM entity schemas (plain objects, no decorators), and the one
 * conversion of a stored order to the domain's view. The tables themselves, with their CHECK
 * and UNIQUE constraints, come from ./migrations.
 */
import { EntitySchema } from '@mikro-orm/core';
import type { OrderStatusName, OrderView, RejectReasonName } from '../domain/order-view.js';

/** A product on sale, with the database's own stock count (never below zero). */
export interface Product {
  sku: string;
  name: string;
  stock: number;
  totalStock: number;
  perCustomerLimit: number;
  startsAt: Date;
  endsAt: Date;
  admissionRate: number;
  admissionBurst: number;
  paused: boolean;
  preQueueLottery: boolean;
  createdAt: Date;
  updatedAt: Date;
}

/** One order, written by the worker from an OrderAccepted event. */
export interface Order {
  orderId: string;
  sku: string;
  quantity: number;
  customerId: string;
  idempotencyKeyHash: string;
  /** Stored by name, as the domain names it. */
  status: OrderStatusName;
  rejectReason: RejectReasonName | null;
  acceptedAt: Date;
  finalizedAt: Date | null;
  requestId: string;
  kafkaPartition: number;
  kafkaOffset: string;
}

/** MikroORM schema of {@link Product}. */
export const ProductSchema = new EntitySchema<Product>({
  name: 'Product',
  tableName: 'product',
  properties: {
    sku: { type: 'string', primary: true },
    name: { type: 'string' },
    stock: { type: 'integer' },
    totalStock: { type: 'bigint', fieldName: 'total_stock', runtimeType: 'number' },
    perCustomerLimit: { type: 'integer', fieldName: 'per_customer_limit' },
    startsAt: { type: 'datetime', fieldName: 'starts_at' },
    endsAt: { type: 'datetime', fieldName: 'ends_at' },
    admissionRate: { type: 'integer', fieldName: 'admission_rate' },
    admissionBurst: { type: 'integer', fieldName: 'admission_burst' },
    paused: { type: 'boolean' },
    preQueueLottery: { type: 'boolean', fieldName: 'pre_queue_lottery' },
    createdAt: { type: 'datetime', fieldName: 'created_at', onCreate: () => new Date() },
    updatedAt: {
      type: 'datetime',
      fieldName: 'updated_at',
      onCreate: () => new Date(),
      onUpdate: () => new Date(),
    },
  },
});

/** MikroORM schema of {@link Order}. */
export const OrderSchema = new EntitySchema<Order>({
  name: 'Order',
  tableName: 'orders',
  properties: {
    orderId: { type: 'uuid', primary: true, fieldName: 'order_id' },
    sku: { type: 'string' },
    quantity: { type: 'integer' },
    customerId: { type: 'string', fieldName: 'customer_id' },
    idempotencyKeyHash: { type: 'string', fieldName: 'idempotency_key_hash' },
    status: { type: 'string' },
    rejectReason: { type: 'string', fieldName: 'reject_reason', nullable: true },
    acceptedAt: { type: 'datetime', fieldName: 'accepted_at' },
    finalizedAt: { type: 'datetime', fieldName: 'finalized_at', nullable: true },
    requestId: { type: 'string', fieldName: 'request_id' },
    kafkaPartition: { type: 'integer', fieldName: 'kafka_partition' },
    kafkaOffset: { type: 'bigint', fieldName: 'kafka_offset' },
  },
});

/** A stored order as the domain's view. */
export function orderViewOf(o: Order): OrderView {
  return {
    order: {
      orderId: o.orderId,
      sku: o.sku,
      quantity: o.quantity,
      customerId: o.customerId,
      // char(64): the column pads a shorter value with spaces.
      idempotencyKeyHash: o.idempotencyKeyHash.trim(),
      acceptedAtMs: o.acceptedAt.getTime(),
      requestId: o.requestId,
    },
    status: o.status,
    rejectReason: o.rejectReason,
    finalizedAtMs: o.finalizedAt?.getTime() ?? null,
  };
}
