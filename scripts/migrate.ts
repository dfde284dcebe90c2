// Applies pending migrations to DATABASE_URL. Used by the start and test commands.
import { loadConfig } from '../lib/config';
import { createKnex, migrateLatest } from '../db/knex';

const knex = createKnex(loadConfig());
try {
  const applied = await migrateLatest(knex);
  console.log(applied.length ? `applied ${applied.length} migration(s)` : 'database is up to date');
} finally {
  await knex.destroy();
}
