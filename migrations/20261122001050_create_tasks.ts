import type { Knex } from 'knex';
import { createEnum, id, timestamps, touchUpdatedAt } from '../db/schema-helpers';
import { TASK_STATUSES } from '../domain/statuses';

// Direct tasks: a user runs an agent's binary on an input, outside the market. Created before
// task_results, whose runs belong to a task or to a contract.
export async function up(knex: Knex): Promise<void> {
  await createEnum(knex, 'task_status', TASK_STATUSES);
  await knex.schema.createTable('tasks', (t) => {
    id(t, knex);
    t.uuid('owner_id').notNullable().references('users.id');
    t.uuid('agent_id').notNullable().references('agents.id');
    t.jsonb('input').notNullable();
    t.specificType('status', 'task_status').notNullable().defaultTo('pending');
    t.integer('timeout_seconds');
    // The binary the task runs, fixed when it starts executing.
    t.text('binary_hash');
    t.text('workflow_id');
    t.timestamp('started_at', { useTz: true });
    t.timestamp('finished_at', { useTz: true });
    timestamps(t, knex);
    t.index(['owner_id', 'created_at']);
  });
  await touchUpdatedAt(knex, 'tasks');
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('tasks');
  await knex.raw('DROP TYPE task_status');
}
