import type { Knex } from 'knex';

// What a sandbox run cost in CPU time (microseconds), whatever the metering: with
// SANDBOX_METERING=epoch there is no fuel count and this is the run's recorded cost. NULL for
// a binary refused before it ran, and for runs recorded before the column existed.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('task_results', (t) => {
    t.bigInteger('cpu_time_us');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('task_results', (t) => {
    t.dropColumn('cpu_time_us');
  });
}
