import type { Knex } from 'knex';
import type { HermesEvent } from './events';

// Writers append events to the outbox inside the transaction that makes the change, so an
// event is published iff its change committed; workers/outbox-relay.ts moves them to the
// Redis stream. Events of one contract keep their commit order because every writer locks the
// contract's row first (db/contract-transition.ts), so a later change gets a larger id.

export const OUTBOX_TABLE = 'event_outbox';
/** NOTIFY channel that wakes the relay when an append commits. */
export const OUTBOX_CHANNEL = 'hermes_outbox';

export async function appendEvents(trx: Knex.Transaction, contractId: string | null, events: HermesEvent[]): Promise<void> {
  if (events.length === 0) return;
  // The rows and the NOTIFY in one round trip; the NOTIFY is delivered at commit, and not at all on rollback.
  const insert = trx(OUTBOX_TABLE)
    .insert(events.map((e) => ({ type: e.type, payload: JSON.stringify(e.data), rooms: e.rooms, contract_id: contractId })))
    .returning('id')
    .toSQL();
  await trx.raw(`WITH appended AS (${insert.sql}) SELECT pg_notify('${OUTBOX_CHANNEL}', '') FROM (SELECT 1 FROM appended LIMIT 1) one`, insert.bindings);
}
