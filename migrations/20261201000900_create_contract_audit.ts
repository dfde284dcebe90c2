import type { Knex } from 'knex';

// Each contract's audit chain (domain/audit.ts, lib/audit.ts): one row per fact that decides
// money, appended in the transaction that writes the fact. `record` is the exact canonical JSON
// (RFC 8785) that was hashed, kept as text so verification hashes the very bytes; `hash` is its
// SHA-256 and `prev_hash` the hash of the record before (64 zeros for the first). `fact_key`
// names the fact, so a retried write appends nothing. No foreign key: appending must not lock
// more rows (as with the outbox).
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE contract_audit (
      contract_id uuid NOT NULL,
      seq integer NOT NULL CHECK (seq >= 1),
      kind text NOT NULL,
      fact_key text NOT NULL,
      record text NOT NULL,
      prev_hash text NOT NULL CHECK (prev_hash ~ '^[0-9a-f]{64}$'),
      hash text NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$'),
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (contract_id, seq),
      UNIQUE (contract_id, fact_key)
    )`);
  // Defence in depth: the chain is append-only for every role that obeys triggers. Someone with
  // enough rights can still get past this (session_replication_role = replica, DISABLE TRIGGER,
  // a superuser); verification (npm run audit:verify) is what catches a rewrite.
  await knex.raw(`
    CREATE FUNCTION hermes_contract_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'contract_audit is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
    END $$`);
  await knex.raw(`
    CREATE TRIGGER contract_audit_no_update_delete BEFORE UPDATE OR DELETE ON contract_audit
    FOR EACH ROW EXECUTE FUNCTION hermes_contract_audit_append_only()`);
  await knex.raw(`
    CREATE TRIGGER contract_audit_no_truncate BEFORE TRUNCATE ON contract_audit
    FOR EACH STATEMENT EXECUTE FUNCTION hermes_contract_audit_append_only()`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE contract_audit');
  await knex.raw('DROP FUNCTION hermes_contract_audit_append_only()');
}
