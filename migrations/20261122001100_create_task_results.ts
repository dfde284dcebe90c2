import type { Knex } from 'knex';
import { createEnum, id } from '../db/schema-helpers';
import { TASK_OUTCOMES } from '../domain/statuses';

export async function up(knex: Knex): Promise<void> {
  await createEnum(knex, 'task_outcome', TASK_OUTCOMES);
  await knex.schema.createTable('task_results', (t) => {
    id(t, knex);
    t.uuid('agent_id').notNullable().references('agents.id');
    t.uuid('contract_id').references('contracts.id');
    t.uuid('task_id');
    t.integer('attempt').notNullable().defaultTo(1);
    t.specificType('outcome', 'task_outcome').notNullable();
    t.integer('exit_code');
    t.text('stdout');
    t.text('stderr');
    t.integer('duration_ms');
    t.bigInteger('fuel_consumed');
    t.text('error');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['contract_id']);
    t.index(['task_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('task_results');
  await knex.raw('DROP TYPE task_outcome');
}
