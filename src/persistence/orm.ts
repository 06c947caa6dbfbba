/**
 * MikroORM set-up: configuration, start-up and migrations. Only main-*.ts and tests call
 * {@link createOrm}.
 */
import { Migrator } from '@mikro-orm/migrations';
import { MikroORM, defineConfig } from '@mikro-orm/postgresql';
import { AdminRequestSchema } from './admin-request.js';
import { OrderSchema, ProductSchema } from './entities.js';
import { AdminRequestTable } from './migrations/admin-request.js';
import { InitialSchema } from './migrations/initial.js';
import { PreQueueLottery } from './migrations/pre-queue-lottery.js';

/**
 * The MikroORM configuration. Every connection's search_path is `schema`, so the raw SQL of
 * the migrations and the worker lands there too. Migrations are listed, not discovered.
 */
export function ormConfig(databaseUrl: string, schema: string) {
  return defineConfig({
    clientUrl: databaseUrl,
    schema,
    // pg's own pool options (MikroORM 7 hands driverOptions to pg.Pool as they are).
    driverOptions: { options: `-c search_path=${schema}` },
    entities: [ProductSchema, OrderSchema, AdminRequestSchema],
    extensions: [Migrator],
    migrations: {
      migrationsList: [
        { name: '20261124-initial', class: InitialSchema },
        { name: '20261130-admin-request', class: AdminRequestTable },
        { name: '20261201-pre-queue-lottery', class: PreQueueLottery },
      ],
      transactional: true,
      allOrNothing: true,
      snapshot: false,
    },
    pool: { min: 1, max: 10 },
    debug: false,
    allowGlobalContext: false,
  });
}

/** Connects MikroORM to `databaseUrl`, working in `schema`. */
export async function createOrm(databaseUrl: string, schema: string): Promise<MikroORM> {
  return MikroORM.init(ormConfig(databaseUrl, schema));
}

/** Creates the schema if needed and applies pending migrations; returns the names applied. */
export async function migrate(orm: MikroORM, schema: string): Promise<string[]> {
  await orm.em.getConnection().execute(`create schema if not exists "${schema}"`);
  const applied = await orm.migrator.up();
  return applied.map((m) => m.name);
}
