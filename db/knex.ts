import knexFactory, { type Knex } from 'knex';
import pg from 'pg';
import { fileURLToPath } from 'node:url';
import type { Config } from '../lib/config';

export type { Knex };

export const MIGRATIONS_DIR = fileURLToPath(new URL('../migrations', import.meta.url));

export function createKnex(config: Pick<Config, 'DATABASE_URL' | 'DATABASE_POOL_MAX'>): Knex {
  // Money is bigint cents; amounts stay far below 2^53, so read them as numbers, not strings.
  pg.types.setTypeParser(pg.types.builtins.INT8, (v) => {
    const n = Number(v);
    if (!Number.isSafeInteger(n)) throw new RangeError(`bigint ${v} exceeds the safe integer range`);
    return n;
  });
  pg.types.setTypeParser(pg.types.builtins.NUMERIC, (v) => Number(v));
  return knexFactory({
    client: 'pg',
    connection: config.DATABASE_URL,
    pool: { min: 0, max: config.DATABASE_POOL_MAX },
    migrations: { directory: MIGRATIONS_DIR, loadExtensions: ['.ts'] },
  });
}

export async function migrateLatest(knex: Knex): Promise<string[]> {
  const [, applied] = await knex.migrate.latest();
  return applied as string[];
}
