import type { Knex } from 'knex';
import { createEnum, id } from '../db/schema-helpers';
import { METRIC_OUTCOMES } from '../domain/statuses';

export async function up(knex: Knex): Promise<void> {
  await createEnum(knex, 'metric_outcome', METRIC_OUTCOMES);
  await knex.schema.createTable('agent_metrics', (t) => {
    id(t, knex);
    t.uuid('agent_id').notNullable().references('agents.id');
    t.uuid('contract_id').references('contracts.id');
    t.specificType('outcome', 'metric_outcome').notNullable();
    t.text('failure_reason');
    t.integer('promised_eta_seconds');
    t.integer('actual_seconds');
    t.smallint('rating');
    t.bigInteger('price_cents').notNullable().defaultTo(0);
    t.integer('execution_ms');
    t.bigInteger('fuel_consumed');
    t.timestamp('recorded_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    // Idempotent per contract outcome: a retried activity writes nothing new.
    t.unique(['contract_id', 'agent_id']);
    t.index(['agent_id', 'recorded_at']);
    t.check('rating IS NULL OR rating BETWEEN 1 AND 5', [], 'agent_metrics_rating_range');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('agent_metrics');
  await knex.raw('DROP TYPE metric_outcome');
}
