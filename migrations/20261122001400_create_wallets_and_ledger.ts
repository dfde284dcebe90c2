import type { Knex } from 'knex';
import { createEnum, id, timestamps, touchUpdatedAt } from '../db/schema-helpers';
import { LEDGER_ACCOUNTS, WITHDRAWAL_STATUSES } from '../domain/statuses';

// Agent owners' wallets, the double-entry ledger, and withdrawals to owners' connected accounts.
export async function up(knex: Knex): Promise<void> {
  await createEnum(knex, 'ledger_account', LEDGER_ACCOUNTS);
  await createEnum(knex, 'withdrawal_status', WITHDRAWAL_STATUSES);

  await knex.schema.createTable('agent_wallets', (t) => {
    id(t, knex);
    // One wallet per agent owner: earnings of all their agents land here.
    t.uuid('user_id').notNullable().unique().references('users.id');
    t.specificType('currency', 'char(3)').notNullable().defaultTo('usd');
    // A cache of the ledger's sum for this wallet, kept in the same transaction as the entries.
    t.bigInteger('balance_cents').notNullable().defaultTo(0);
    t.text('stripe_account_id');
    timestamps(t, knex);
    t.check('balance_cents >= 0', [], 'agent_wallets_nonnegative');
  });
  await touchUpdatedAt(knex, 'agent_wallets');

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
    // A repeated Idempotency-Key must come with the same request: the sha256 (hex) of the body's
    // canonical JSON (lib/request-hash.ts), so a different body can be refused (422).
    t.text('request_hash').notNullable();
    t.unique(['user_id', 'idempotency_key']);
    t.index(['user_id', 'created_at']);
    t.check('amount_cents > 0', [], 'withdrawals_positive');
    t.check("request_hash ~ '^[0-9a-f]{64}$'", [], 'withdrawals_request_hash_sha256');
  });
  await touchUpdatedAt(knex, 'withdrawals');

  await knex.schema.createTable('ledger_transactions', (t) => {
    id(t, knex);
    t.text('kind').notNullable();
    // From the workflow id and the step (or the withdrawal): a retried write is a no-op.
    t.text('idempotency_key').notNullable().unique();
    t.uuid('contract_id').references('contracts.id');
    t.uuid('payment_id').references('payments.id');
    t.uuid('withdrawal_id').references('withdrawals.id');
    t.text('description').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });

  await knex.schema.createTable('ledger_entries', (t) => {
    id(t, knex);
    // Rows of one movement share a transaction id and sum to zero (checked at commit).
    t.uuid('transaction_id').notNullable().references('ledger_transactions.id');
    t.smallint('line').notNullable();
    t.specificType('account', 'ledger_account').notNullable();
    t.uuid('account_id');
    t.bigInteger('amount_cents').notNullable();
    t.specificType('currency', 'char(3)').notNullable();
    t.uuid('contract_id').references('contracts.id');
    t.uuid('payment_id').references('payments.id');
    t.text('description').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.unique(['transaction_id', 'line']);
    t.index(['account', 'account_id', 'created_at']);
    t.index(['contract_id']);
    t.check('amount_cents <> 0', [], 'ledger_entries_nonzero');
  });
  await knex.raw(`
    CREATE FUNCTION hermes_ledger_balanced() RETURNS trigger AS $$
    DECLARE total bigint;
    BEGIN
      SELECT coalesce(sum(amount_cents), 0) INTO total FROM ledger_entries WHERE transaction_id = NEW.transaction_id;
      IF total <> 0 THEN
        RAISE EXCEPTION 'ledger transaction % does not balance (sum %)', NEW.transaction_id, total;
      END IF;
      RETURN NULL;
    END;
    $$ LANGUAGE plpgsql`);
  await knex.raw(`
    CREATE CONSTRAINT TRIGGER ledger_entries_balanced AFTER INSERT OR UPDATE ON ledger_entries
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION hermes_ledger_balanced()`);

  // One Connect transfer per contract a withdrawal draws on, grouped by the contract.
  await knex.schema.createTable('withdrawal_transfers', (t) => {
    id(t, knex);
    t.uuid('withdrawal_id').notNullable().references('withdrawals.id');
    t.uuid('contract_id').notNullable().references('contracts.id');
    t.bigInteger('amount_cents').notNullable();
    t.text('transfer_group').notNullable();
    // Its place in the withdrawal (oldest earnings first): the rows share one created_at.
    t.smallint('position').notNullable();
    t.text('stripe_transfer_id');
    // Stripe refused the transfer: its amount went back to the wallet.
    t.timestamp('reversed_at', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.unique(['withdrawal_id', 'contract_id']);
    t.unique(['withdrawal_id', 'position']);
    t.index(['contract_id']);
    t.check('amount_cents > 0', [], 'withdrawal_transfers_positive');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('withdrawal_transfers');
  await knex.schema.dropTable('ledger_entries');
  await knex.raw('DROP FUNCTION hermes_ledger_balanced()');
  await knex.schema.dropTable('ledger_transactions');
  await knex.schema.dropTable('withdrawals');
  await knex.schema.dropTable('agent_wallets');
  await knex.raw('DROP TYPE withdrawal_status; DROP TYPE ledger_account');
}
