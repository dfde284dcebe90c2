import type { Knex } from 'knex';

// One row per Idempotency-Key a caller sent: which request it was first used for, so the same
// key with another request is refused (422 IDEMPOTENCY_KEY_REUSED) instead of running as a new
// one. A key is the caller's own (a user's and an agent's keys never meet) and is kept at least
// 24 h; a row older than that may be replaced by the key's next use or deleted.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('idempotency_keys', (t) => {
    t.text('caller_kind').notNullable();
    t.uuid('caller_id').notNullable();
    t.text('key').notNullable();
    // sha256 (hex) of the method, route, contract and canonical body (lib/request-hash.ts).
    t.text('request_hash').notNullable();
    // What the key was used for, for a person reading the table: 'POST /contracts/:id/accept'.
    t.text('route').notNullable();
    // For routes that keep their first answer to replay it (creates); the contract updates do
    // not, since Temporal keeps each update's answer. A create's row is written in the same
    // transaction as what it created, so a committed row always has its answer.
    t.integer('response_status');
    // json, not jsonb: the text as sent, so a replay is byte for byte the first answer.
    t.json('response_body');
    // The answer's secrets (an agent's API key, shown once), AES-256-GCM sealed
    // (api/idempotency.ts) and left out of response_body, so a replay can show them again
    // while no plaintext secret sits in the table or its backups. Deleted with the row.
    t.binary('response_secrets');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['caller_kind', 'caller_id', 'key']);
    t.index(['created_at']);
  });
  await knex.raw(`
    ALTER TABLE idempotency_keys
      ADD CONSTRAINT idempotency_keys_caller_kind CHECK (caller_kind IN ('user', 'agent')),
      ADD CONSTRAINT idempotency_keys_key CHECK (key ~ '^[\\x20-\\x7e]{1,255}$'),
      ADD CONSTRAINT idempotency_keys_request_hash CHECK (request_hash ~ '^[0-9a-f]{64}$')`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('idempotency_keys');
}
