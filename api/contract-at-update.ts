import type { ContractState } from '../domain/contract-types';
import type { BidRow, ContractDetail, DeliveryRow } from './serializers';

// The latest of some times, as a Date.
const latest = (times: Array<Date | string | null | undefined>) =>
  new Date(Math.max(...times.filter((t) => t != null).map((t) => new Date(t!).getTime())));

/**
 * The contract as GET /contracts/:id shows it, at the moment an update answered. What the
 * workflow's state holds — status, deadlines, award, bids, the current delivery and its review,
 * the outcome — is taken from the state the update returned, so a retry (answered by Temporal
 * with the first attempt's state) shows what the first attempt saw, not what happened since.
 * The rest comes from `detail`, read from Postgres: what never changes (the terms, creation
 * times) and the history the state does not keep (earlier award rounds' deliveries, sandbox
 * runs), cut at the times the state gives. The same state always gives the same answer.
 */
export function contractAtUpdate(detail: ContractDetail, state: ContractState): ContractDetail {
  const { award, delivery, review } = state;
  const date = (iso: string | null) => (iso === null ? null : new Date(iso));
  const contract = {
    ...detail.contract,
    status: state.status,
    bidding_deadline: new Date(state.biddingDeadline),
    delivery_deadline: date(state.deliveryDeadline),
    review_deadline: date(state.reviewDeadline),
    awarded_bid_id: award?.bidId ?? null,
    awarded_agent_id: award?.agentId ?? null,
    awarded_price_cents: award?.priceCents ?? null,
    awarded_at: date(award?.awardedAt ?? null),
    award,
    failure_reason: state.failureReason,
    status_detail: state.statusDetail,
    // Only an accept carries a rating, and an accepted contract is never re-awarded.
    rating: review?.rating ?? null,
    closed_at: date(state.closedAt),
    // The latest time the state records (the row's own clock would move on after the update).
    updated_at: latest([detail.contract.created_at, ...state.bids.map((b) => b.submittedAt), award?.awardedAt, delivery?.deliveredAt, review?.reviewedAt, state.closedAt]),
  };

  const stored = new Map(detail.bids.map((b) => [b.id, b]));
  const bids = state.bids.map((b): BidRow => {
    const row = stored.get(b.bidId);
    return {
      id: b.bidId,
      contract_id: state.contractId,
      agent_id: b.agentId,
      price_cents: b.priceCents,
      eta_seconds: b.etaSeconds,
      confidence: b.confidence,
      message: b.message,
      // As recordAward marks them: the awarded bid, and every other one lost.
      status: award ? (award.bidId === b.bidId ? 'awarded' : 'lost') : 'active',
      revision: b.revision,
      score: award?.ranking.find((r) => r.bidId === b.bidId) ?? null,
      // A replaced bid keeps the time of its first version, as its row does; the award is the
      // row's last change after the bid's own.
      created_at: row?.created_at ?? new Date(b.submittedAt),
      updated_at: latest([b.submittedAt, award?.awardedAt]),
    };
  });

  // Earlier rounds' deliveries were made before this round's award; this round's is the state's.
  const earlier = award ? detail.deliveries.filter((d) => new Date(d.delivered_at) < new Date(award.awardedAt)) : [];
  const current: DeliveryRow[] = delivery
    ? [
        {
          id: delivery.deliveryId,
          contract_id: state.contractId,
          agent_id: delivery.agentId,
          bid_id: delivery.bidId,
          attempt: delivery.attempt,
          source: delivery.source ?? 'agent',
          output: delivery.output,
          output_encoding: delivery.outputEncoding ?? 'json',
          status: review?.decision ?? 'pending_review',
          rating: review?.rating ?? null,
          review_comment: review ? (review.comment ?? review.reason) : null,
          ...validationAt(detail, state, delivery.deliveryId),
          delivered_at: new Date(delivery.deliveredAt),
          reviewed_at: date(review?.reviewedAt ?? null),
          created_at: new Date(delivery.deliveredAt),
          updated_at: new Date(review?.reviewedAt ?? delivery.deliveredAt),
        },
      ]
    : [];

  // Sandbox runs happen between an award and its delivery: those the state's latest time covers.
  const until = date(state.closedAt ?? delivery?.deliveredAt ?? award?.awardedAt ?? null);
  const executions = until ? detail.executions.filter((e) => new Date(e.created_at) <= until) : [];

  return { contract, bids, deliveries: [...earlier, ...current], executions };
}

// The delivery's checks as the state has them (still running: no result yet); a state from
// before validations were kept has none, and the row's stands.
function validationAt(detail: ContractDetail, state: ContractState, deliveryId: string): Pick<DeliveryRow, 'validation' | 'is_validated'> {
  const v = state.validation;
  if (v === undefined) {
    const row = detail.deliveries.find((d) => d.id === deliveryId);
    return { validation: row?.validation ?? null, is_validated: row?.is_validated ?? false };
  }
  if (v === null || v.status === 'pending') return { validation: null, is_validated: false };
  return { validation: v, is_validated: v.status === 'passed' };
}
