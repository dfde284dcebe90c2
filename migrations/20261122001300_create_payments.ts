import type { Knex } from 'knex';
import { createEnum, id, timestamps, touchUpdatedAt } from '../db/schema-helpers';
import { PAYMENT_EVENT_KINDS, PAYMENT_STATUSES } from '../domain/statuses';

// Escrow payments, a history row per payment state, and users' saved payment methods.
export async function up(knex: Knex): Promise<void> {
  await createEnum(knex, 'payment_status', PAYMENT_STATUSES);
  await createEnum(knex, 'payment_event_kind', PAYMENT_EVENT_KINDS);

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
    t.text('stripe_payment_method_id');
    t.bigInteger('refunded_cents').notNullable().defaultTo(0);
    // Card authorisations lapse after about 7 days: the workflow captures before this.
    t.timestamp('capture_by', { useTz: true });
    t.index(['contract_id']);
    t.index(['user_id', 'created_at']);
    t.check('amount_cents > 0 AND captured_cents >= 0 AND captured_cents <= amount_cents', [], 'payments_amounts');
  });
  await touchUpdatedAt(knex, 'payments');

  await knex.schema.createTable('payment_events', (t) => {
    id(t, knex);
    t.uuid('payment_id').notNullable().references('payments.id');
    t.uuid('contract_id').notNullable().references('contracts.id');
    t.uuid('user_id').notNullable().references('users.id');
    t.specificType('kind', 'payment_event_kind').notNullable();
    t.bigInteger('amount_cents').notNullable();
    t.text('detail');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    // A state is entered once: retried activities add nothing.
    t.unique(['payment_id', 'kind']);
    t.index(['user_id', 'created_at']);
  });

  await knex.schema.createTable('payment_methods', (t) => {
    id(t, knex);
    t.uuid('user_id').notNullable().references('users.id');
    t.text('stripe_payment_method_id').notNullable();
    t.text('brand');
    t.text('last4');
    t.smallint('exp_month');
    t.smallint('exp_year');
    t.boolean('is_default').notNullable().defaultTo(false);
    timestamps(t, knex, { softDelete: true });
    t.unique(['user_id', 'stripe_payment_method_id']);
  });
  await knex.raw('CREATE UNIQUE INDEX payment_methods_one_default ON payment_methods (user_id) WHERE is_default AND deleted_at IS NULL');
  await touchUpdatedAt(knex, 'payment_methods');
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('payment_methods');
  await knex.schema.dropTable('payment_events');
  await knex.schema.dropTable('payments');
  await knex.raw('DROP TYPE payment_event_kind; DROP TYPE payment_status');
}
