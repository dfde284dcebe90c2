import type { Knex } from 'knex';

// Every signed webhook delivery. Stripe's event id is the natural key: a redelivery is
// acknowledged and ignored. One Hermes can never act on (no id, no data.object, text Postgres
// cannot store, a payment Hermes does not know…) is acknowledged so Stripe stops retrying and
// kept for operators: `status = 'unprocessable'` with the reason. `received` is only ever seen
// inside the transaction that handles a delivery. `body_sha256` is the hash of the raw body as
// signed; it is also the row's key (`sha256:<hex>`) when the event's own id cannot be stored.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('stripe_events', (t) => {
    t.text('id').primary();
    // An unprocessable event may have no usable type, or a payload too deep to keep.
    t.text('type');
    t.jsonb('payload');
    t.timestamp('received_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('processed_at', { useTz: true });
    t.text('status').notNullable().defaultTo('received');
    t.text('unprocessable_reason');
    t.text('body_sha256');
    t.check("status IN ('received', 'processed', 'unprocessable')", [], 'stripe_events_status');
    t.check("(status = 'unprocessable') = (unprocessable_reason IS NOT NULL)", [], 'stripe_events_reason_iff_unprocessable');
  });
  await knex.raw("CREATE INDEX stripe_events_unprocessable ON stripe_events (received_at) WHERE status = 'unprocessable'");
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('stripe_events');
}
