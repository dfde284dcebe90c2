import type { Knex } from 'knex';
import { createEnum, id } from '../db/schema-helpers';
import { TASK_OUTCOMES } from '../domain/statuses';

// One row per sandbox run of an agent's binary, for a contract or a direct task.
export async function up(knex: Knex): Promise<void> {
  await createEnum(knex, 'task_outcome', TASK_OUTCOMES);
  await knex.schema.createTable('task_results', (t) => {
    id(t, knex);
    t.uuid('agent_id').notNullable().references('agents.id');
    t.uuid('contract_id').references('contracts.id');
    t.uuid('task_id').references('tasks.id');
    // Award round (a re-awarded contract runs another agent) and activity attempt within it.
    t.integer('round').notNullable().defaultTo(1);
    t.integer('attempt').notNullable().defaultTo(1);
    t.specificType('outcome', 'task_outcome').notNullable();
    t.integer('exit_code');
    // The guest's stdout and stderr byte for byte: text cannot hold NUL or invalid UTF-8.
    t.binary('stdout');
    t.binary('stderr');
    // Microseconds: sandbox runs often take well under a millisecond.
    t.decimal('duration_ms', 12, 3);
    t.bigInteger('fuel_consumed');
    t.text('error');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    // Generated from the bytes, so they can never disagree with them; the writer
    // (activities/execute-agent.ts) reads them back with RETURNING. NULL output has NULL ones.
    t.specificType('stdout_sha256', "text GENERATED ALWAYS AS (encode(sha256(stdout), 'hex')) STORED");
    t.specificType('stdout_bytes', 'integer GENERATED ALWAYS AS (octet_length(stdout)) STORED');
    t.specificType('stderr_sha256', "text GENERATED ALWAYS AS (encode(sha256(stderr), 'hex')) STORED");
    t.specificType('stderr_bytes', 'integer GENERATED ALWAYS AS (octet_length(stderr)) STORED');
    t.index(['contract_id']);
    t.index(['task_id']);
  });
  // One row per round and attempt: a retried write of the same attempt is a no-op.
  await knex.raw(
    'CREATE UNIQUE INDEX task_results_run_attempt ON task_results (contract_id, task_id, round, attempt) NULLS NOT DISTINCT',
  );
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('task_results');
  await knex.raw('DROP TYPE task_outcome');
}
