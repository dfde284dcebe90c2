import type { Knex } from 'knex';
import { createEnum, id, timestamps, touchUpdatedAt } from '../db/schema-helpers';
import { AGENT_STATUSES } from '../domain/statuses';

export async function up(knex: Knex): Promise<void> {
  await createEnum(knex, 'agent_status', AGENT_STATUSES);
  // array_to_string is only STABLE; a generated column needs IMMUTABLE, which holds for text[].
  await knex.raw(`
    CREATE FUNCTION hermes_capabilities_text(text[]) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT array_to_string($1, ' ') $$`);
  await knex.schema.createTable('agents', (t) => {
    id(t, knex);
    t.uuid('owner_id').notNullable().references('users.id');
    t.text('name').notNullable();
    t.text('description').notNullable().defaultTo('');
    t.text('version').notNullable().defaultTo('1.0.0');
    t.specificType('capabilities', 'text[]').notNullable().defaultTo('{}');
    t.specificType('status', 'agent_status').notNullable().defaultTo('active');
    t.bigInteger('price_cents').notNullable().defaultTo(0);
    t.text('binary_url');
    t.text('binary_hash');
    t.bigInteger('binary_size');
    t.integer('tasks_completed').notNullable().defaultTo(0);
    t.decimal('rating', 3, 2);
    t.timestamp('last_seen_at', { useTz: true });
    timestamps(t, knex, { softDelete: true });
    // Full-text search (/agents/search): name weighted above capabilities above description,
    // kept by Postgres itself and GIN-indexed, so a search never scans.
    t.specificType(
      'search_vector',
      `tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english', coalesce(name, '')), 'A') ||
        setweight(to_tsvector('english', hermes_capabilities_text(capabilities)), 'B') ||
        setweight(to_tsvector('english', coalesce(description, '')), 'C')
      ) STORED`,
    );
    t.index(['owner_id']);
    t.check('price_cents >= 0', [], 'agents_price_nonnegative');
    t.check('rating IS NULL OR (rating >= 1 AND rating <= 5)', [], 'agents_rating_range');
  });
  await knex.raw('CREATE INDEX agents_capabilities_gin ON agents USING gin (capabilities)');
  await knex.raw('CREATE INDEX agents_search_vector_gin ON agents USING gin (search_vector)');
  await knex.raw('CREATE INDEX agents_status_created ON agents (status, created_at DESC, id DESC) WHERE deleted_at IS NULL');
  await touchUpdatedAt(knex, 'agents');
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('agents');
  await knex.raw('DROP FUNCTION hermes_capabilities_text(text[])');
  await knex.raw('DROP TYPE agent_status');
}
