/** A sale may order its early arrivals by a seeded draw at the start (the waiting room). */
import { Migration } from '@mikro-orm/migrations';

/** Adds product.pre_queue_lottery. */
export class PreQueueLottery extends Migration {
  override up(): void {
    this.addSql('alter table product add column pre_queue_lottery boolean not null default false');
  }

  override down(): void {
    this.addSql('alter table product drop column pre_queue_lottery');
  }
}
