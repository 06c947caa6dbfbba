/**
 * One-shot migration command (`npm run migrate`, docker-compose's `migrate` service): applies
 * pending migrations to FLUXGATE_DATABASE_SCHEMA and exits.
 */
import type { Config } from './config.js';
import { createOrm, migrate } from './persistence/orm.js';
import { isEntryPoint, runMain } from './run-main.js';

/** Applies pending migrations; resolves with their names. */
export async function runMigrations(config: Config): Promise<string[]> {
  const orm = await createOrm(config.databaseUrl, config.databaseSchema);
  try {
    return await migrate(orm, config.databaseSchema);
  } finally {
    await orm.close();
  }
}

if (isEntryPoint(import.meta.url)) {
  await runMain(async (config) => {
    const applied = await runMigrations(config);
    console.log(applied.length > 0 ? `applied: ${applied.join(', ')}` : 'no pending migrations');
    return undefined;
  });
}
