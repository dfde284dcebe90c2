import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

// Whether a database's migration history still matches migrations/. Hermes is unreleased, so
// migrations are rewritten (folded into their create files, edited in place) rather than only
// added to; a database migrated by an older set cannot be migrated forward.

/** sha256 (hex) of each migration file's content, by the name knex records for it. */
export type MigrationDigests = Record<string, string>;

export function migrationDigests(dir: string): MigrationDigests {
  const out: MigrationDigests = {};
  for (const name of readdirSync(dir).filter((f) => f.endsWith('.ts')).sort()) {
    out[name] = createHash('sha256').update(readFileSync(join(dir, name))).digest('hex');
  }
  return out;
}

export interface StaleMigration {
  name: string;
  why: 'gone' | 'edited';
}

/**
 * The applied migrations that no longer match the files: gone (removed or renamed; knex
 * refuses to migrate then), or edited since they ran, where `applied` digests were recorded
 * (a migration applied without a record can only be checked for being gone).
 */
export function staleMigrations(applied: readonly string[], files: MigrationDigests, recorded: MigrationDigests): StaleMigration[] {
  const stale: StaleMigration[] = [];
  for (const name of applied) {
    if (!(name in files)) stale.push({ name, why: 'gone' });
    else if (name in recorded && recorded[name] !== files[name]) stale.push({ name, why: 'edited' });
  }
  return stale;
}
