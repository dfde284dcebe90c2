import type { Knex } from 'knex';

// A signed webhook Hermes can never act on (no id, no data.object, text Postgres cannot store,
// a payment Hermes does not know…) is acknowledged so Stripe stops retrying, and kept here for
// operators: `status = 'unprocessable'` with the reason. `received` is only ever seen inside the
// transaction that handles a delivery. `body_sha256` is the hash of the raw body as signed; it is
// also the row's key (`sha256:<hex>`) when the event's own id cannot be stored.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('stripe_events', (t) => {
    t.text('status').notNullable().defaultTo('received');
    t.text('unprocessable_reason');
    t.text('body_sha256');
    // An unprocessable event may have no usable type, or a payload too deep to keep.
    t.setNullable('type');
    t.setNullable('payload');
  });
  await knex('stripe_events').whereNotNull('processed_at').update({ status: 'processed' });
  await knex.schema.alterTable('stripe_events', (t) => {
    t.check("status IN ('received', 'processed', 'unprocessable')", [], 'stripe_events_status');
    t.check("(status = 'unprocessable') = (unprocessable_reason IS NOT NULL)", [], 'stripe_events_reason_iff_unprocessable');
  });
  await knex.raw("CREATE INDEX stripe_events_unprocessable ON stripe_events (received_at) WHERE status = 'unprocessable'");
}

export async function down(knex: Knex): Promise<void> {
  // The old schema cannot hold them (they may lack a type or payload), and before this
  // migration such deliveries were never stored: drop them.
  await knex('stripe_events').where({ status: 'unprocessable' }).delete();
  await knex.raw('DROP INDEX stripe_events_unprocessable');
  await knex.schema.alterTable('stripe_events', (t) => {
    t.dropChecks(['stripe_events_status', 'stripe_events_reason_iff_unprocessable']);
    t.dropNullable('type');
    t.dropNullable('payload');
    t.dropColumn('body_sha256');
    t.dropColumn('unprocessable_reason');
    t.dropColumn('status');
  });
}
