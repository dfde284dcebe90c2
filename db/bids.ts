import type { Knex } from 'knex';
import type { BidView } from '../domain/contract-types';
import { rooms } from '../lib/events';
import { appendEvents } from '../lib/outbox';
import { lockContract } from './contract-transition';

// The bids' rows are the Postgres copy of the bids the contract's workflow took (the workflow
// holds them; its update answers with the bid). Two places write that copy, with this one
// function: the API, after the workflow took a bid and before it answers 201 (so GET shows
// every bid it confirmed), and the workflow's own write when bidding ends (the award, or the
// ending of a contract never awarded), which catches a bid whose confirmation never came.
//
// A row only moves forward: a revision already stored, or older than the stored one, changes
// nothing (two replacements confirmed out of order leave the newer), and only a write that
// changed the row announces `bid:new`.

/** Writes the bids in the caller's transaction; the contract's row is locked first, as everywhere. */
export async function storeBidsIn(trx: Knex.Transaction, contractId: string, bids: readonly BidView[]): Promise<void> {
  if (bids.length === 0) return;
  await lockContract(trx, contractId);
  for (const bid of bids) {
    const [changed] = await trx('bids')
      .insert({
        id: bid.bidId,
        contract_id: contractId,
        agent_id: bid.agentId,
        price_cents: bid.priceCents,
        eta_seconds: bid.etaSeconds,
        confidence: bid.confidence,
        message: bid.message,
        revision: bid.revision,
        created_at: bid.submittedAt,
      })
      .onConflict(['contract_id', 'agent_id'])
      .merge(['price_cents', 'eta_seconds', 'confidence', 'message', 'revision'])
      .where('bids.revision', '<', bid.revision)
      .returning('id');
    if (!changed) continue;
    await appendEvents(trx, contractId, [
      {
        type: 'bid:new',
        rooms: [rooms.contract(contractId)],
        data: { contract_id: contractId, bid_id: bid.bidId, agent_id: bid.agentId, price_cents: bid.priceCents, eta_seconds: bid.etaSeconds, confidence: bid.confidence, revision: bid.revision },
      },
    ]);
  }
}

/** The API's confirmation of one bid the workflow took: its own transaction. */
export function storeBid(knex: Knex, contractId: string, bid: BidView): Promise<void> {
  return knex.transaction((trx) => storeBidsIn(trx, contractId, [bid]));
}
