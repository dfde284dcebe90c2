import type { Knex } from 'knex';

// Full-text search over agents: a stored tsvector (name weighted above capabilities above
// description) kept by Postgres itself, with a GIN index, so /agents/search never scans.
export async function up(knex: Knex): Promise<void> {
  // array_to_string is only STABLE; a generated column needs IMMUTABLE, which holds for text[].
  await knex.raw(`
    CREATE FUNCTION hermes_capabilities_text(text[]) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT array_to_string($1, ' ') $$`);
  await knex.raw(`
    ALTER TABLE agents ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
      setweight(to_tsvector('english', coalesce(name, '')), 'A') ||
      setweight(to_tsvector('english', hermes_capabilities_text(capabilities)), 'B') ||
      setweight(to_tsvector('english', coalesce(description, '')), 'C')
    ) STORED`);
  await knex.raw('CREATE INDEX agents_search_vector_gin ON agents USING gin (search_vector)');
  await knex.raw('CREATE INDEX agents_status_created ON agents (status, created_at DESC, id DESC) WHERE deleted_at IS NULL');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP INDEX agents_status_created');
  await knex.raw('ALTER TABLE agents DROP COLUMN search_vector');
  await knex.raw('DROP FUNCTION hermes_capabilities_text(text[])');
}
