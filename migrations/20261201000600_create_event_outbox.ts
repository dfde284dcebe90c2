import type { Knex } from 'knex';

// The transactional outbox: a real-time event is a row written in the same transaction as the
// change it reports (lib/outbox.ts), so it exists iff that change committed. The relay
// (workers/outbox-relay.ts) moves unpublished rows to the Redis stream in id order, stamps
// them published, and prunes them later.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('event_outbox', (t) => {
    t.bigIncrements('id');
    t.text('type').notNullable();
    t.jsonb('payload').notNullable();
    // Where the realtime layer sends it: Socket.IO rooms (contract, user, agent, capability).
    t.specificType('rooms', 'text[]').notNullable();
    // The contract it is about, if any (no foreign key: appending must not lock more rows).
    t.uuid('contract_id');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('published_at', { useTz: true });
    // The Redis stream entry id it was published as: the event_id clients see.
    t.text('stream_id');
  });
  await knex.raw('CREATE INDEX event_outbox_unpublished ON event_outbox (id) WHERE published_at IS NULL');
  await knex.raw('CREATE INDEX event_outbox_published_at ON event_outbox (published_at) WHERE published_at IS NOT NULL');
  // A new subscription replays its contract's published events (api/realtime.ts).
  await knex.raw('CREATE INDEX event_outbox_contract ON event_outbox (contract_id, id)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('event_outbox');
}
