/** Products and orders, with the constraints the invariants (docs/invariants.md) lean on. */
import { Migration } from '@mikro-orm/migrations';

/** The first schema. */
export class InitialSchema extends Migration {
  override up(): void {
    this.addSql(`
      create table product (
        sku text primary key,
        name text not null,
        -- I1: the database never sells a unit it does not have.
        stock integer not null check (stock >= 0),
        total_stock bigint not null check (total_stock >= 0),
        per_customer_limit integer not null check (per_customer_limit > 0),
        starts_at timestamptz not null,
        ends_at timestamptz not null,
        admission_rate integer not null check (admission_rate > 0),
        admission_burst integer not null check (admission_burst > 0),
        paused boolean not null default false,
        created_at timestamptz not null default now(),
        updated_at timestamptz not null default now(),
        check (ends_at > starts_at)
      )`);
    this.addSql(`
      create table orders (
        -- I4: one row per order id (redelivered events change nothing) ...
        order_id uuid primary key,
        sku text not null,
        quantity integer not null check (quantity > 0),
        customer_id text not null,
        idempotency_key_hash char(64) not null,
        status text not null check (status in ('PENDING', 'CONFIRMED', 'REJECTED')),
        reject_reason text check (reject_reason in ('INSUFFICIENT_STOCK', 'UNKNOWN_PRODUCT')),
        accepted_at timestamptz not null,
        finalized_at timestamptz,
        request_id text not null,
        kafka_partition integer not null,
        kafka_offset bigint not null,
        -- ... and one per idempotency key, scoped like the gate's keys: per sale.
        constraint orders_sku_idempotency_key_hash_key unique (sku, idempotency_key_hash),
        check ((status = 'REJECTED') = (reject_reason is not null))
      )`);
    this.addSql('create index orders_sku_status_idx on orders (sku, status)');
  }

  override down(): void {
    this.addSql('drop table orders');
    this.addSql('drop table product');
  }
}
