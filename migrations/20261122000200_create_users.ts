import type { Knex } from 'knex';
import { id, timestamps, touchUpdatedAt } from '../db/schema-helpers';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('users', (t) => {
    id(t, knex);
    t.text('email').notNullable();
    t.text('password_hash').notNullable();
    t.text('name').notNullable();
    t.text('stripe_customer_id').unique();
    timestamps(t, knex, { softDelete: true });
  });
  // Emails are unique case-insensitively among live accounts.
  await knex.raw('CREATE UNIQUE INDEX users_email_unique ON users (lower(email)) WHERE deleted_at IS NULL');
  await touchUpdatedAt(knex, 'users');
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('users');
}
