import type { Knex } from 'knex';
import { id, timestamps, touchUpdatedAt } from '../db/schema-helpers';

// Acceptance checks (README, "Acceptance checks"): verifier modules users upload, the checks a
// contract declares, and each delivery's validation.
export async function up(knex: Knex): Promise<void> {
  // A user's WASM verifiers, stored in S3 as verifiers/<id>/<sha256>.wasm.
  await knex.schema.createTable('verifiers', (t) => {
    id(t, knex);
    t.uuid('owner_id').notNullable().references('users.id');
    t.text('name').notNullable();
    t.text('description').notNullable().defaultTo('');
    t.text('sha256').notNullable();
    t.bigInteger('size_bytes').notNullable();
    t.text('url').notNullable();
    timestamps(t, knex, { softDelete: true });
    t.index(['owner_id', 'created_at']);
    t.check("sha256 ~ '^[0-9a-f]{64}$'", [], 'verifiers_sha256_hex');
  });
  await touchUpdatedAt(knex, 'verifiers');

  // What a contract's deliveries must pass: {output_schema, verifier: {id, name, sha256}, on_pass}.
  await knex.schema.alterTable('contracts', (t) => {
    t.jsonb('acceptance');
  });
  // {status: passed|failed|error, checks: [...], report, validated_at}; is_validated iff passed.
  await knex.schema.alterTable('deliveries', (t) => {
    t.jsonb('validation');
    t.boolean('is_validated').notNullable().defaultTo(false);
  });
  // A delivery that failed its checks, when no re-award followed.
  await knex.raw("ALTER TYPE failure_reason ADD VALUE IF NOT EXISTS 'validation_failed'");
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('deliveries', (t) => {
    t.dropColumn('validation');
    t.dropColumn('is_validated');
  });
  await knex.schema.alterTable('contracts', (t) => {
    t.dropColumn('acceptance');
  });
  await knex.schema.dropTable('verifiers');
  // Postgres cannot drop an enum value; 'validation_failed' stays in failure_reason.
}
