// `npm start`'s migration step (scripts/start.sh): migrates the local dev database, first
// recreating it when its migration history no longer matches migrations/ (db/migration-history.ts)
// — Hermes is unreleased and rewrites its migrations. Only ever a local development database:
// anything else is refused, never dropped. Exit status 3 says it was recreated.
//   tsx scripts/migrate-dev.ts <digests.json>   (where the applied migrations' digests are kept)
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import pg from 'pg';
import { createKnex, migrateLatest, MIGRATIONS_DIR, type Knex } from '../db/knex';
import { migrationDigests, staleMigrations, type MigrationDigests } from '../db/migration-history';
import { loadConfig, type Config } from '../lib/config';

const RECREATED = 3;
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

const recordPath = process.argv[2];
if (!recordPath) throw new Error('usage: migrate-dev.ts <digests.json>');

const say = (line: string) => console.error(`[hermes] ${line}`);

async function appliedMigrations(knex: Knex): Promise<string[]> {
  if (!(await knex.schema.hasTable('knex_migrations'))) return [];
  return knex('knex_migrations').orderBy('id').pluck('name');
}

/** Throws unless this is a development database on this machine. */
function assertLocalDevelopment(config: Config, url: URL): void {
  const database = url.pathname.slice(1);
  if (config.NODE_ENV !== 'development' || !LOOPBACK.has(url.hostname)) {
    throw new Error(
      `refusing to recreate database "${database}" on ${url.hostname} (NODE_ENV=${config.NODE_ENV}): ` +
        'only a local development database is ever recreated. Migrate or recreate it by hand.',
    );
  }
}

async function recreate(url: URL): Promise<void> {
  const database = url.pathname.slice(1);
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    const name = client.escapeIdentifier(database);
    await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
}

const config = loadConfig();
const url = new URL(config.DATABASE_URL);
const files = migrationDigests(MIGRATIONS_DIR);
const recorded: MigrationDigests = existsSync(recordPath) ? JSON.parse(readFileSync(recordPath, 'utf8')) : {};

let knex = createKnex(config);
let recreated = false;
try {
  const stale = staleMigrations(await appliedMigrations(knex), files, recorded);
  if (stale.length) {
    assertLocalDevelopment(config, url);
    const list = stale.map((s) => `${s.name} (${s.why})`).join(', ');
    say(`the local dev database "${url.pathname.slice(1)}" was migrated by files that have changed since: ${list}.`);
    say('Hermes is unreleased and rewrites its migrations: recreating the local dev database from migrations/ — its data is gone.');
    await knex.destroy();
    await recreate(url);
    knex = createKnex(config);
    recreated = true;
  }
  const applied = await migrateLatest(knex);
  console.log(applied.length ? `applied ${applied.length} migration(s)` : 'database is up to date');
  writeFileSync(recordPath, `${JSON.stringify(files, null, 2)}\n`);
} finally {
  await knex.destroy();
}
if (recreated) process.exitCode = RECREATED;
