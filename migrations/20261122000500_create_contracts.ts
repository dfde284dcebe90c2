import type { Knex } from 'knex';
import { createEnum, id, timestamps, touchUpdatedAt } from '../db/schema-helpers';
import { AWARD_MODES, CONTRACT_STATUSES, FAILURE_REASONS } from '../domain/statuses';

export async function up(knex: Knex): Promise<void> {
  await createEnum(knex, 'contract_status', CONTRACT_STATUSES);
  await createEnum(knex, 'award_mode', AWARD_MODES);
  await createEnum(knex, 'failure_reason', FAILURE_REASONS);
  await knex.schema.createTable('contracts', (t) => {
    id(t, knex);
    t.uuid('user_id').notNullable().references('users.id');
    t.text('workflow_id').notNullable().unique();
    t.text('intent').notNullable();
    t.jsonb('context').notNullable().defaultTo('{}');
    t.specificType('required_capabilities', 'text[]').notNullable().defaultTo('{}');
    t.bigInteger('reward_cents').notNullable();
    t.specificType('currency', 'char(3)').notNullable().defaultTo('usd');
    t.specificType('status', 'contract_status').notNullable().defaultTo('BIDDING');
    t.specificType('award_mode', 'award_mode').notNullable().defaultTo('auto');
    t.jsonb('filters').notNullable().defaultTo('{}');
    t.jsonb('weights').notNullable();
    t.timestamp('bidding_deadline', { useTz: true }).notNullable();
    t.integer('delivery_window_seconds').notNullable();
    t.integer('review_window_seconds').notNullable();
    t.timestamp('delivery_deadline', { useTz: true });
    t.timestamp('review_deadline', { useTz: true });
    t.uuid('awarded_bid_id');
    t.uuid('awarded_agent_id').references('agents.id');
    t.bigInteger('awarded_price_cents');
    t.jsonb('award');
    t.specificType('failure_reason', 'failure_reason');
    t.text('status_detail');
    t.smallint('rating');
    t.timestamp('awarded_at', { useTz: true });
    t.timestamp('delivered_at', { useTz: true });
    t.timestamp('closed_at', { useTz: true });
    timestamps(t, knex, { softDelete: true });
    t.check('reward_cents >= 0', [], 'contracts_reward_nonnegative');
    t.check('awarded_price_cents IS NULL OR awarded_price_cents BETWEEN 0 AND reward_cents', [], 'contracts_price_within_reward');
    t.check('rating IS NULL OR rating BETWEEN 1 AND 5', [], 'contracts_rating_range');
    t.check('delivery_window_seconds > 0 AND review_window_seconds > 0', [], 'contracts_windows_positive');
  });
  // Lists are per user, newest first, optionally by status (keyset pagination on created_at, id).
  await knex.raw('CREATE INDEX contracts_user_created ON contracts (user_id, created_at DESC, id DESC) WHERE deleted_at IS NULL');
  await knex.raw('CREATE INDEX contracts_user_status ON contracts (user_id, status, created_at DESC) WHERE deleted_at IS NULL');
  await knex.raw('CREATE INDEX contracts_awarded_agent ON contracts (awarded_agent_id) WHERE awarded_agent_id IS NOT NULL');
  await touchUpdatedAt(knex, 'contracts');
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('contracts');
  await knex.raw('DROP TYPE failure_reason; DROP TYPE award_mode; DROP TYPE contract_status');
}
