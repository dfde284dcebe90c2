import type { Knex } from 'knex';
import { id } from '../db/schema-helpers';

// Every binary an agent has uploaded. agents.binary_* points at the current one; older rows
// stay, as do their S3 objects, so a past version can still be fetched and audited.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('agent_binaries', (t) => {
    id(t, knex);
    t.uuid('agent_id').notNullable().references('agents.id');
    t.text('version').notNullable();
    t.text('sha256').notNullable();
    t.bigInteger('size_bytes').notNullable();
    t.text('url').notNullable();
    t.uuid('uploaded_by').notNullable().references('users.id');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.unique(['agent_id', 'sha256']);
    t.index(['agent_id', 'created_at']);
    t.check("sha256 ~ '^[0-9a-f]{64}$'", [], 'agent_binaries_sha256_hex');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('agent_binaries');
}
