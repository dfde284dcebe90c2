import type { Knex } from 'knex';
import { createEnum, id, timestamps, touchUpdatedAt } from '../db/schema-helpers';
import { LEDGER_ACCOUNTS } from '../domain/statuses';

export async function up(knex: Knex): Promise<void> {
  await createEnum(knex, 'ledger_account', LEDGER_ACCOUNTS);
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
  await knex.schema.createTable('ledger_entries', (t) => {
    id(t, knex);
    // Rows of one movement share a transaction id and sum to zero (checked at commit).
    t.uuid('transaction_id').notNullable();
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
  await touchUpdatedAt(knex, 'agent_wallets');
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('ledger_entries');
  await knex.raw('DROP FUNCTION hermes_ledger_balanced()');
  await knex.schema.dropTable('agent_wallets');
  await knex.raw('DROP TYPE ledger_account');
}
