import type { Knex } from 'knex';
import type { BidView } from '../domain/contract-types';
import { rooms } from '../lib/events';
import { OUTBOX_CHANNEL, OUTBOX_TABLE } from '../lib/outbox';

// The bids' rows are the Postgres copy of the bids the contract's workflow took (the workflow
// holds them; its update answers with the bid). Two places write that copy, with this one
// function: the API, after the workflow took a bid and before it answers 201 (so GET shows
// every bid it confirmed), and the workflow's own write when bidding ends (the award, or the
// ending of a contract never awarded), which catches a bid whose confirmation never came.
//
// A row only moves forward: a revision already stored, or older than the stored one, changes
// nothing (two replacements confirmed out of order leave the newer), and only a write that
// changed the row announces `bid:new`, in the outbox as appendEvents (lib/outbox.ts) writes.

// One statement for any number of bids (one round trip, atomic on its own): the contract's row
// locked first, as everywhere, then each bid inserted or moved forward, and `bid:new` appended to
// the outbox for each row that changed, in the bids' order (with the NOTIFY that wakes the relay).
const STORE_BIDS = `
WITH locked AS (SELECT id FROM contracts WHERE id = :contractId FOR NO KEY UPDATE),
input AS (
  SELECT * FROM jsonb_to_recordset(:bids::jsonb) AS x(
    n integer, bid_id uuid, agent_id uuid, price_cents bigint, eta_seconds integer, confidence numeric,
    message text, revision integer, submitted_at timestamptz, payload jsonb)),
stored AS (
  INSERT INTO bids (id, contract_id, agent_id, price_cents, eta_seconds, confidence, message, revision, created_at)
  SELECT i.bid_id, locked.id, i.agent_id, i.price_cents, i.eta_seconds, i.confidence, i.message, i.revision, i.submitted_at
  FROM input i, locked ORDER BY i.n
  ON CONFLICT (contract_id, agent_id) DO UPDATE SET
    price_cents = excluded.price_cents, eta_seconds = excluded.eta_seconds, confidence = excluded.confidence,
    message = excluded.message, revision = excluded.revision
  WHERE bids.revision < excluded.revision
  RETURNING agent_id),
announced AS (
  INSERT INTO ${OUTBOX_TABLE} (type, payload, rooms, contract_id)
  SELECT 'bid:new', i.payload, :rooms::text[], :contractId FROM stored JOIN input i USING (agent_id) ORDER BY i.n
  RETURNING id)
SELECT pg_notify('${OUTBOX_CHANNEL}', '') FROM (SELECT 1 FROM announced LIMIT 1) one`;

/**
 * Writes bids in one statement: the API's confirmation of the one the workflow took, or, in the
 * caller's transaction, every bid the award or the ending writes. At most one per agent, as the
 * workflow holds them (one statement cannot upsert a row twice).
 */
export async function storeBids(db: Knex | Knex.Transaction, contractId: string, bids: readonly BidView[]): Promise<void> {
  if (bids.length === 0) return;
  const rows = bids.map(({ bidId, agentId, priceCents, etaSeconds, confidence, message, revision, submittedAt }, n) => ({
    n,
    bid_id: bidId,
    agent_id: agentId,
    price_cents: priceCents,
    eta_seconds: etaSeconds,
    confidence,
    message,
    revision,
    submitted_at: submittedAt,
    payload: { contract_id: contractId, bid_id: bidId, agent_id: agentId, price_cents: priceCents, eta_seconds: etaSeconds, confidence, revision },
  }));
  await db.raw(STORE_BIDS, { contractId, bids: JSON.stringify(rows), rooms: [rooms.contract(contractId)] });
}
