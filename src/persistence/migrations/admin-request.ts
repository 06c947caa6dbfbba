/** The table of admin requests, so that a retried Restock adds its units once. */
import { Migration } from '@mikro-orm/migrations';

/** Adds admin_request. */
export class AdminRequestTable extends Migration {
  override up(): void {
    this.addSql(`
      create table admin_request (
        -- One row per idempotency key, written in the transaction of the change it names.
        request_key text primary key check (length(request_key) between 1 and 128),
        operation text not null check (operation in ('restock')),
        sku text not null references product (sku),
        units bigint not null check (units > 0),
        total_stock_after bigint not null check (total_stock_after >= units),
        created_at timestamptz not null default now()
      )`);
  }

  override down(): void {
    this.addSql('drop table admin_request');
  }
}
