import type { Knex } from 'knex';
import { createEnum, id, timestamps, touchUpdatedAt } from '../db/schema-helpers';
import { DELIVERY_SOURCES, DELIVERY_STATUSES } from '../domain/statuses';

export async function up(knex: Knex): Promise<void> {
  await createEnum(knex, 'delivery_source', DELIVERY_SOURCES);
  await createEnum(knex, 'delivery_status', DELIVERY_STATUSES);
  await knex.schema.createTable('deliveries', (t) => {
    id(t, knex);
    t.uuid('contract_id').notNullable().references('contracts.id').onDelete('CASCADE');
    t.uuid('agent_id').notNullable().references('agents.id');
    t.uuid('bid_id').notNullable().references('bids.id');
    // Attempt n of this contract (re-awards deliver again under a new attempt).
    t.integer('attempt').notNullable().defaultTo(1);
    t.specificType('source', 'delivery_source').notNullable().defaultTo('agent');
    t.jsonb('output').notNullable();
    t.specificType('status', 'delivery_status').notNullable().defaultTo('pending_review');
    t.smallint('rating');
    t.text('review_comment');
    t.timestamp('delivered_at', { useTz: true }).notNullable();
    t.timestamp('reviewed_at', { useTz: true });
    timestamps(t, knex);
    t.unique(['contract_id', 'attempt']);
    t.check('rating IS NULL OR rating BETWEEN 1 AND 5', [], 'deliveries_rating_range');
  });
  await touchUpdatedAt(knex, 'deliveries');
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('deliveries');
  await knex.raw('DROP TYPE delivery_status; DROP TYPE delivery_source');
}
