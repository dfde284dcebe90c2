import type { Knex } from 'knex';

// Idempotency-Key on withdrawals follows Stripe's rule: a repeated key must come with the same
// request. The sha256 (hex) of the request body's canonical JSON (lib/request-hash.ts) is kept
// with the row, so a repeated key with a different body can be refused (422).
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('withdrawals', (t) => {
    t.text('request_hash');
  });
  // Rows from before: their request was {"amount_cents":N}, whose canonical JSON is exactly this.
  await knex.raw(
    `UPDATE withdrawals SET request_hash = encode(sha256(convert_to('{"amount_cents":' || amount_cents::text || '}', 'UTF8')), 'hex')`,
  );
  await knex.raw('ALTER TABLE withdrawals ALTER COLUMN request_hash SET NOT NULL');
  await knex.raw("ALTER TABLE withdrawals ADD CONSTRAINT withdrawals_request_hash_sha256 CHECK (request_hash ~ '^[0-9a-f]{64}$')");
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE withdrawals DROP CONSTRAINT withdrawals_request_hash_sha256');
  await knex.schema.alterTable('withdrawals', (t) => t.dropColumn('request_hash'));
}
