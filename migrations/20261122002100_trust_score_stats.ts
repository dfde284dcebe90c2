import type { Knex } from 'knex';

// What the reputation endpoint reports beyond the factors, kept with the cached score.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('agent_trust_scores', (t) => {
    t.decimal('avg_execution_seconds', 14, 3);
    t.index(['total_earnings_cents']);
    t.index(['total_contracts']);
    t.index(['success_rate']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('agent_trust_scores', (t) => {
    t.dropIndex(['total_earnings_cents']);
    t.dropIndex(['total_contracts']);
    t.dropIndex(['success_rate']);
    t.dropColumn('avg_execution_seconds');
  });
}
