import type { Knex } from 'knex';
import { createEnum, id, timestamps, touchUpdatedAt } from '../db/schema-helpers';
import { AGENT_STATUSES } from '../domain/statuses';

export async function up(knex: Knex): Promise<void> {
  await createEnum(knex, 'agent_status', AGENT_STATUSES);
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
    t.index(['owner_id']);
    t.check('price_cents >= 0', [], 'agents_price_nonnegative');
    t.check('rating IS NULL OR (rating >= 1 AND rating <= 5)', [], 'agents_rating_range');
  });
  await knex.raw('CREATE INDEX agents_capabilities_gin ON agents USING gin (capabilities)');
  await touchUpdatedAt(knex, 'agents');
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('agents');
  await knex.raw('DROP TYPE agent_status');
}
