import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('agent_trust_scores', (t) => {
    t.uuid('agent_id').primary().references('agents.id').onDelete('CASCADE');
    t.decimal('trust_score', 5, 4).notNullable();
    t.text('grade').notNullable();
    t.decimal('success_rate', 5, 4).notNullable();
    t.decimal('latency_score', 5, 4).notNullable();
    t.decimal('rating_score', 5, 4).notNullable();
    t.decimal('uptime_score', 5, 4).notNullable();
    t.decimal('consistency_score', 5, 4).notNullable();
    t.specificType('badges', 'text[]').notNullable().defaultTo('{}');
    t.integer('total_contracts').notNullable().defaultTo(0);
    t.integer('successful_contracts').notNullable().defaultTo(0);
    t.bigInteger('total_earnings_cents').notNullable().defaultTo(0);
    t.timestamp('computed_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    // What the reputation endpoint reports beyond the factors, kept with the cached score.
    t.decimal('avg_execution_seconds', 14, 3);
    t.index(['trust_score']);
    t.index(['total_earnings_cents']);
    t.index(['total_contracts']);
    t.index(['success_rate']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('agent_trust_scores');
}
