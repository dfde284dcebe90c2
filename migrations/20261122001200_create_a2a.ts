import type { Knex } from 'knex';
import { createEnum, id, timestamps, touchUpdatedAt } from '../db/schema-helpers';
import { CONVERSATION_STATUSES, MESSAGE_TYPES } from '../domain/statuses';

export async function up(knex: Knex): Promise<void> {
  await createEnum(knex, 'conversation_status', CONVERSATION_STATUSES);
  await createEnum(knex, 'message_type', MESSAGE_TYPES);
  await knex.schema.createTable('a2a_conversations', (t) => {
    id(t, knex);
    t.uuid('initiator_agent_id').notNullable().references('agents.id');
    t.uuid('responder_agent_id').notNullable().references('agents.id');
    t.uuid('contract_id').references('contracts.id');
    t.text('subject');
    t.specificType('status', 'conversation_status').notNullable().defaultTo('open');
    t.timestamp('closed_at', { useTz: true });
    timestamps(t, knex, { softDelete: true });
    t.index(['initiator_agent_id']);
    t.index(['responder_agent_id']);
    t.check('initiator_agent_id <> responder_agent_id', [], 'a2a_conversations_distinct_agents');
  });
  await knex.schema.createTable('a2a_messages', (t) => {
    id(t, knex);
    t.uuid('conversation_id').notNullable().references('a2a_conversations.id').onDelete('CASCADE');
    t.uuid('sender_agent_id').notNullable().references('agents.id');
    t.specificType('type', 'message_type').notNullable().defaultTo('text');
    t.jsonb('body').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['conversation_id', 'created_at']);
  });
  await touchUpdatedAt(knex, 'a2a_conversations');
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('a2a_messages');
  await knex.schema.dropTable('a2a_conversations');
  await knex.raw('DROP TYPE message_type; DROP TYPE conversation_status');
}
