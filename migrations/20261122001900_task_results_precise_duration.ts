import type { Knex } from 'knex';

// Sandbox runs often take well under a millisecond: keep microseconds instead of rounding
// every fast run to 0 ms.
export async function up(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE task_results ALTER COLUMN duration_ms TYPE numeric(12, 3)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE task_results ALTER COLUMN duration_ms TYPE integer USING round(duration_ms)');
}
