import type { Knex } from 'knex';
import { createEnum, id, timestamps, touchUpdatedAt } from '../db/schema-helpers';
import { PAYMENT_STATUSES } from '../domain/statuses';

export async function up(knex: Knex): Promise<void> {
  await createEnum(knex, 'payment_status', PAYMENT_STATUSES);
  await knex.schema.createTable('payments', (t) => {
    id(t, knex);
    t.uuid('contract_id').notNullable().references('contracts.id');
    t.uuid('user_id').notNullable().references('users.id');
    t.uuid('agent_id').references('agents.id');
    // stripe-mock is stateless: these rows are the payment's state of record.
    t.text('stripe_payment_intent_id').notNullable().unique();
    t.text('idempotency_key').notNullable().unique();
    t.bigInteger('amount_cents').notNullable();
    t.bigInteger('captured_cents').notNullable().defaultTo(0);
    t.specificType('currency', 'char(3)').notNullable();
    t.specificType('status', 'payment_status').notNullable();
    t.text('last_error');
    timestamps(t, knex);
    t.index(['contract_id']);
    t.index(['user_id', 'created_at']);
    t.check('amount_cents > 0 AND captured_cents >= 0 AND captured_cents <= amount_cents', [], 'payments_amounts');
  });
  await touchUpdatedAt(knex, 'payments');
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('payments');
  await knex.raw('DROP TYPE payment_status');
}
