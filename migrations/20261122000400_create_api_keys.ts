import type { Knex } from 'knex';
import { id } from '../db/schema-helpers';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('api_keys', (t) => {
    id(t, knex);
    t.uuid('agent_id').notNullable().references('agents.id').onDelete('CASCADE');
    // The key itself is shown once; only its SHA-256 is kept (keys are 256-bit random, so a
    // fast hash is enough) plus a short prefix so owners can tell keys apart.
    t.text('key_hash').notNullable().unique();
    t.text('key_prefix').notNullable();
    t.text('name').notNullable().defaultTo('default');
    t.timestamp('last_used_at', { useTz: true });
    t.timestamp('revoked_at', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['agent_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('api_keys');
}
