import type { Knex } from 'knex';
import { createEnum, id, timestamps, touchUpdatedAt } from '../db/schema-helpers';
import { BID_STATUSES } from '../domain/statuses';

export async function up(knex: Knex): Promise<void> {
  await createEnum(knex, 'bid_status', BID_STATUSES);
  await knex.schema.createTable('bids', (t) => {
    id(t, knex);
    t.uuid('contract_id').notNullable().references('contracts.id').onDelete('CASCADE');
    t.uuid('agent_id').notNullable().references('agents.id');
    t.bigInteger('price_cents').notNullable();
    t.integer('eta_seconds').notNullable();
    t.decimal('confidence', 4, 3).notNullable();
    t.text('message');
    t.specificType('status', 'bid_status').notNullable().defaultTo('active');
    t.integer('revision').notNullable().defaultTo(1);
    t.jsonb('score');
    timestamps(t, knex);
    // One bid per agent per contract: a replacement updates the row (natural key).
    t.unique(['contract_id', 'agent_id']);
    t.index(['agent_id', 'created_at']);
    t.check('price_cents >= 0', [], 'bids_price_nonnegative');
    t.check('eta_seconds > 0', [], 'bids_eta_positive');
    t.check('confidence >= 0 AND confidence <= 1', [], 'bids_confidence_range');
  });
  await knex.schema.alterTable('contracts', (t) => {
    t.foreign('awarded_bid_id').references('bids.id');
  });
  await touchUpdatedAt(knex, 'bids');
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('contracts', (t) => t.dropForeign(['awarded_bid_id']));
  await knex.schema.dropTable('bids');
  await knex.raw('DROP TYPE bid_status');
}
