import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import knexFactory, { type Knex } from 'knex';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrationDigests } from '../../db/migration-history';
import { MIGRATIONS_DIR } from '../../db/knex';

// `npm start`'s migration step on a scratch database of the test Postgres: a database whose
// migration history no longer matches migrations/ is recreated in development and refused
// anywhere else; one that matches keeps its data.
const base = new URL(process.env.DATABASE_URL ?? 'postgres://hermes:hermes@127.0.0.1:25432/hermes');
const database = `hermes_migrate_dev_${randomUUID().replaceAll('-', '')}`;
const url = Object.assign(new URL(base), { pathname: `/${database}` }).toString();
const record = join(tmpdir(), `${database}.json`);

async function admin(sql: string) {
  const client = new pg.Client({ connectionString: Object.assign(new URL(base), { pathname: '/postgres' }).toString() });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

function migrateDev(env: Record<string, string> = {}) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      'node_modules/.bin/tsx',
      ['scripts/migrate-dev.ts', record],
      { env: { ...process.env, DATABASE_URL: url, NODE_ENV: 'development', ...env } },
      (err, stdout, stderr) => resolve({ code: err ? Number(err.code) : 0, stdout, stderr }),
    );
  });
}

/** A connection of its own each time: recreating the database ends every open one. */
async function query<T>(fn: (knex: Knex) => Promise<T>): Promise<T> {
  const knex = knexFactory({ client: 'pg', connection: url, pool: { min: 0, max: 1 } });
  try {
    return await fn(knex);
  } finally {
    await knex.destroy();
  }
}
const applied = () => query((k) => k('knex_migrations').orderBy('id').pluck('name'));
const marker = () => query(async (k) => (await k('users').where({ email: 'marker@example.com' })).length);

beforeAll(() => admin(`CREATE DATABASE ${database}`));
afterAll(() => admin(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`));

describe('migrate-dev', () => {
  const files = Object.keys(migrationDigests(MIGRATIONS_DIR));

  it('migrates a fresh database and keeps the data of one whose history matches', async () => {
    expect(await migrateDev()).toMatchObject({ code: 0, stdout: `applied ${files.length} migration(s)\n` });
    expect(await applied()).toEqual(files);
    expect(JSON.parse(readFileSync(record, 'utf8'))).toEqual(migrationDigests(MIGRATIONS_DIR));
    await query((k) => k('users').insert({ email: 'marker@example.com', password_hash: 'x', name: 'Marker' }));
    expect(await migrateDev()).toMatchObject({ code: 0, stdout: 'database is up to date\n' });
    expect(await marker()).toBe(1);
  });

  it('refuses to recreate a stale database unless NODE_ENV is development, touching nothing', async () => {
    await query((k) => k('knex_migrations').insert({ name: '20261122001600_agent_search.ts', batch: 1, migration_time: new Date() }));
    const production = { NODE_ENV: 'production', JWT_SECRET: 'p'.repeat(40), STRIPE_WEBHOOK_SECRET: 'whsec_p', STRIPE_SECRET_KEY: 'sk_live_p' };
    for (const env of [production, { NODE_ENV: 'test' }]) {
      const run = await migrateDev(env);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(`refusing to recreate database "${database}"`);
    }
    expect(await marker()).toBe(1);
  });

  it('recreates a local development database migrated by a file that is gone, saying so', async () => {
    const run = await migrateDev();
    expect(run.code).toBe(3);
    expect(run.stderr).toContain(`the local dev database "${database}" was migrated by files that have changed since: 20261122001600_agent_search.ts (gone)`);
    expect(run.stderr).toContain('recreating the local dev database');
    expect(await applied()).toEqual(files);
    expect(await marker()).toBe(0);
  });

  it('recreates one migrated by a file edited since it ran', async () => {
    const recorded = JSON.parse(readFileSync(record, 'utf8'));
    const edited = files[files.length - 1]!;
    writeFileSync(record, JSON.stringify({ ...recorded, [edited]: 'an older digest' }));
    const run = await migrateDev();
    expect(run.code).toBe(3);
    expect(run.stderr).toContain(`${edited} (edited)`);
    expect(await migrateDev()).toMatchObject({ code: 0, stdout: 'database is up to date\n' });
  });
});
