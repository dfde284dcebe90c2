import type { Knex } from 'knex';
import { createEnum, id, timestamps, touchUpdatedAt } from '../db/schema-helpers';
import { PAYMENT_EVENT_KINDS, WITHDRAWAL_STATUSES } from '../domain/statuses';

// The money side: saved payment methods, a history row per payment state, idempotent ledger
// transactions, and withdrawals to agent owners' connected accounts.
export async function up(knex: Knex): Promise<void> {
  await knex.raw("ALTER TYPE payment_status ADD VALUE IF NOT EXISTS 'disputed'");
  await createEnum(knex, 'payment_event_kind', PAYMENT_EVENT_KINDS);
  await createEnum(knex, 'withdrawal_status', WITHDRAWAL_STATUSES);

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

  await knex.schema.alterTable('payments', (t) => {
    t.text('stripe_payment_method_id');
    t.bigInteger('refunded_cents').notNullable().defaultTo(0);
    // Card authorisations lapse after about 7 days: the workflow captures before this.
    t.timestamp('capture_by', { useTz: true });
  });

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

  await knex.schema.createTable('ledger_transactions', (t) => {
    id(t, knex);
    t.text('kind').notNullable();
    // From the workflow id and the step (or the withdrawal): a retried write is a no-op.
    t.text('idempotency_key').notNullable().unique();
    t.uuid('contract_id').references('contracts.id');
    t.uuid('payment_id').references('payments.id');
    t.uuid('withdrawal_id');
    t.text('description').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.schema.alterTable('ledger_entries', (t) => {
    t.foreign('transaction_id').references('ledger_transactions.id');
  });

  await knex.schema.createTable('withdrawals', (t) => {
    id(t, knex);
    t.uuid('user_id').notNullable().references('users.id');
    t.bigInteger('amount_cents').notNullable();
    t.specificType('currency', 'char(3)').notNullable();
    t.specificType('status', 'withdrawal_status').notNullable().defaultTo('pending');
    t.text('idempotency_key').notNullable();
    t.text('stripe_account_id').notNullable();
    t.text('failure');
    timestamps(t, knex);
    t.unique(['user_id', 'idempotency_key']);
    t.index(['user_id', 'created_at']);
    t.check('amount_cents > 0', [], 'withdrawals_positive');
  });
  await touchUpdatedAt(knex, 'withdrawals');
  await knex.schema.alterTable('ledger_transactions', (t) => {
    t.foreign('withdrawal_id').references('withdrawals.id');
  });

  // One Connect transfer per contract a withdrawal draws on, grouped by the contract.
  await knex.schema.createTable('withdrawal_transfers', (t) => {
    id(t, knex);
    t.uuid('withdrawal_id').notNullable().references('withdrawals.id');
    t.uuid('contract_id').notNullable().references('contracts.id');
    t.bigInteger('amount_cents').notNullable();
    t.text('transfer_group').notNullable();
    t.text('stripe_transfer_id');
    // Stripe refused the transfer: its amount went back to the wallet.
    t.timestamp('reversed_at', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.unique(['withdrawal_id', 'contract_id']);
    t.index(['contract_id']);
    t.check('amount_cents > 0', [], 'withdrawal_transfers_positive');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('withdrawal_transfers');
  await knex.schema.alterTable('ledger_transactions', (t) => t.dropForeign(['withdrawal_id']));
  await knex.schema.dropTable('withdrawals');
  await knex.schema.alterTable('ledger_entries', (t) => t.dropForeign(['transaction_id']));
  await knex.schema.dropTable('ledger_transactions');
  await knex.schema.dropTable('payment_events');
  await knex.schema.alterTable('payments', (t) => {
    t.dropColumn('stripe_payment_method_id');
    t.dropColumn('refunded_cents');
    t.dropColumn('capture_by');
  });
  await knex.schema.dropTable('payment_methods');
  await knex.raw('DROP TYPE withdrawal_status; DROP TYPE payment_event_kind');
}
