import type { Knex } from 'knex';
import type { Award } from '../domain/contract-types';
import { TERMINAL_STATUSES, type ContractStatus, type FailureReason } from '../domain/statuses';
import { rooms, type HermesEvent } from '../lib/events';
import { appendEvents } from '../lib/outbox';
import { appendAudit } from '../lib/audit';

// The one writer of contracts.status after the row is created BIDDING: each transition is one
// transaction that sets the status and its fields and appends the events it implies.

/** What a transition may set alongside the status. */
export interface TransitionFields {
  failureReason?: FailureReason | null;
  statusDetail?: string | null;
  deliveryDeadline?: string | null;
  deliveredAt?: string | null;
  reviewDeadline?: string | null;
  closedAt?: string | null;
  award?: Award;
}

/**
 * Locks the contract's row for the rest of the transaction and returns its status (undefined
 * if there is no row). Every transaction that appends a contract's events takes this lock
 * first, so their commit order is their outbox order (and rows are always locked contract
 * first, then its bids or deliveries).
 */
export async function lockContract(trx: Knex.Transaction, contractId: string): Promise<ContractStatus | undefined> {
  const row = await trx('contracts').where({ id: contractId }).forNoKeyUpdate().first('status');
  return row?.status;
}

/**
 * Sets the status and fields; if the status changed, appends `contract:status` and what the
 * transition implies. A repeat (an activity retried after its commit, or a second write of
 * the same status) refreshes the fields and announces nothing. Returns whether it changed.
 * `locked`: the status lockContract returned, when this transaction already holds the lock.
 */
export async function transitionContract(
  trx: Knex.Transaction,
  contractId: string,
  status: ContractStatus,
  fields: TransitionFields = {},
  locked?: { status: ContractStatus | undefined },
): Promise<boolean> {
  const before = locked ? locked.status : await lockContract(trx, contractId);
  // No row: the contract was never persisted, so there is nothing to change or tell.
  if (before === undefined) return false;
  // A retried IN_PROGRESS write that lands after the delivery's: the delivery stands.
  if (before === 'DELIVERED' && status === 'IN_PROGRESS') return false;
  const terminal = TERMINAL_STATUSES.includes(status);
  // An ending tells the agents that bid: who they are comes back with the update.
  const [row] = await trx('contracts')
    .where({ id: contractId })
    .update({ status, ...columns(fields) })
    .returning(terminal ? ['*', trx.raw(BIDDER_IDS)] : '*');
  if (before === status) return false;
  await appendEvents(trx, contractId, impliedEvents(row));
  // The contract's end, in its audit chain (a later Stripe refund or dispute may follow it).
  if (terminal) {
    await appendAudit(
      trx,
      contractId,
      'closed',
      {
        status,
        failure_reason: row.failure_reason ?? null,
        status_detail: row.status_detail ?? null,
        closed_at: row.closed_at ? new Date(row.closed_at).toISOString() : null,
      },
      'closed',
    );
  }
  return true;
}

const BIDDER_IDS = `(SELECT coalesce(array_agg(b.agent_id::text ORDER BY b.created_at, b.id), '{}') FROM bids b WHERE b.contract_id = contracts.id) AS bidder_ids`;

function columns(f: TransitionFields): Record<string, unknown> {
  const set: Record<string, unknown> = {};
  if (f.failureReason !== undefined) set.failure_reason = f.failureReason;
  if (f.statusDetail !== undefined) set.status_detail = f.statusDetail;
  if (f.deliveryDeadline !== undefined) set.delivery_deadline = f.deliveryDeadline;
  if (f.deliveredAt !== undefined) set.delivered_at = f.deliveredAt;
  if (f.reviewDeadline !== undefined) set.review_deadline = f.reviewDeadline;
  if (f.closedAt !== undefined) set.closed_at = f.closedAt;
  if (f.award) {
    Object.assign(set, {
      awarded_bid_id: f.award.bidId,
      awarded_agent_id: f.award.agentId,
      awarded_price_cents: f.award.priceCents,
      awarded_at: f.award.awardedAt,
      award: JSON.stringify(f.award),
    });
  }
  return set;
}

function impliedEvents(c: Record<string, any>): HermesEvent[] {
  const status = c.status as ContractStatus;
  const events: HermesEvent[] = [
    {
      type: 'contract:status',
      rooms: [rooms.contract(c.id)],
      data: { contract_id: c.id, status, failure_reason: c.failure_reason ?? null, status_detail: c.status_detail ?? null },
    },
  ];
  if (status === 'IN_PROGRESS' && c.awarded_agent_id) {
    // The award is told to the winner once its escrow is held and work can start.
    events.push({
      type: 'contract:awarded',
      rooms: [rooms.agent(c.awarded_agent_id)],
      data: { contract_id: c.id, bid_id: c.awarded_bid_id, price_cents: Number(c.awarded_price_cents), delivery_deadline: c.delivery_deadline },
    });
  }
  if (TERMINAL_STATUSES.includes(status)) {
    // Agents that bid hear when the contract ends: cancelled, or closed any other way.
    const bidders = (c.bidder_ids as string[]).map((id) => rooms.agent(id));
    if (bidders.length) {
      events.push({ type: status === 'CANCELLED' ? 'contract:cancelled' : 'contract:closed', rooms: bidders, data: { contract_id: c.id, status } });
    }
  }
  return events;
}
