import type { Knex } from 'knex';

// A contract ends FAILED/system_error when a write or payment call keeps failing past its
// retry bound (workflows/activity-options.ts), instead of retrying forever.
export async function up(knex: Knex): Promise<void> {
  await knex.raw("ALTER TYPE failure_reason ADD VALUE IF NOT EXISTS 'system_error'");
}

// Postgres cannot drop an enum value; rows using it are mapped back before the type is rebuilt.
export async function down(knex: Knex): Promise<void> {
  await knex.raw("UPDATE contracts SET failure_reason = NULL WHERE failure_reason = 'system_error'");
  await knex.raw('ALTER TYPE failure_reason RENAME TO failure_reason_old');
  await knex.raw("CREATE TYPE failure_reason AS ENUM ('payment_failed', 'delivery_missed', 'execution_failed', 'rejected')");
  await knex.raw('ALTER TABLE contracts ALTER COLUMN failure_reason TYPE failure_reason USING failure_reason::text::failure_reason');
  await knex.raw('DROP TYPE failure_reason_old');
}
