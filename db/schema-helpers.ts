import type { Knex } from 'knex';

// Shared column conventions for migrations: UUID keys, timestamps kept by a trigger.
export function id(t: Knex.CreateTableBuilder, knex: Knex): void {
  t.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'));
}

export function timestamps(t: Knex.CreateTableBuilder, knex: Knex, opts: { softDelete?: boolean } = {}): void {
  t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  if (opts.softDelete) t.timestamp('deleted_at', { useTz: true });
}

export async function touchUpdatedAt(knex: Knex, table: string): Promise<void> {
  await knex.raw(
    `CREATE TRIGGER ${table}_updated_at BEFORE UPDATE ON ${table} FOR EACH ROW EXECUTE FUNCTION hermes_set_updated_at()`,
  );
}

export async function createEnum(knex: Knex, name: string, values: readonly string[]): Promise<void> {
  // DDL takes no bind parameters; the values are our own constants, quoted as literals.
  const literals = values.map((v) => `'${v.replace(/'/g, "''")}'`).join(', ');
  await knex.raw(`CREATE TYPE ${name} AS ENUM (${literals})`);
}
