import type { Knex } from 'knex';
import { timestamps, touchUpdatedAt } from '../db/schema-helpers';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('user_preferences', (t) => {
    t.uuid('user_id').primary().references('users.id').onDelete('CASCADE');
    // Award weights in basis points (integers, so they sum to exactly 10000).
    t.integer('weight_price_bps').notNullable().defaultTo(2500);
    t.integer('weight_performance_bps').notNullable().defaultTo(2500);
    t.integer('weight_speed_bps').notNullable().defaultTo(2500);
    t.integer('weight_reputation_bps').notNullable().defaultTo(2500);
    t.jsonb('default_filters').notNullable().defaultTo('{}');
    timestamps(t, knex);
    t.check(
      'weight_price_bps >= 0 AND weight_performance_bps >= 0 AND weight_speed_bps >= 0 AND weight_reputation_bps >= 0 ' +
        'AND weight_price_bps + weight_performance_bps + weight_speed_bps + weight_reputation_bps = 10000',
      [],
      'user_preferences_weights_sum',
    );
  });
  await touchUpdatedAt(knex, 'user_preferences');
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('user_preferences');
}
