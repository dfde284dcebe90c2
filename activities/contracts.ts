import type { Knex } from 'knex';
import type { Award, BidView, ContractInput, DeliveryView, Review } from '../domain/contract-types';
import type { ContractStatus, FailureReason } from '../domain/statuses';
import { rooms, type EventPublisher } from '../lib/events';

// Postgres writes for the contract workflow. Temporal may retry any of these, so each is
// idempotent: inserts use natural keys, updates set absolute values.
export function createContractActivities({ knex, events }: { knex: Knex; events: EventPublisher }) {
  // Who hears about a contract: its owner's subscription room, and for agents their own room.
  const contractRoom = rooms.contract;
  const bidderRooms = async (contractId: string) =>
    (await knex('bids').where({ contract_id: contractId }).pluck('agent_id')).map((id: string) => rooms.agent(id));

  return {
    async persistContract(input: ContractInput, biddingDeadline: string): Promise<void> {
      await knex('contracts')
        .insert({
          id: input.contractId,
          user_id: input.userId,
          workflow_id: `contract-${input.contractId}`,
          intent: input.intent,
          context: JSON.stringify(input.context),
          required_capabilities: input.requiredCapabilities,
          reward_cents: input.rewardCents,
          currency: input.currency,
          status: 'BIDDING',
          award_mode: input.awardMode,
          filters: JSON.stringify(input.filters),
          weights: JSON.stringify(input.weights),
          bidding_deadline: biddingDeadline,
          delivery_window_seconds: input.deliveryWindowSeconds,
          review_window_seconds: input.reviewWindowSeconds,
        })
        .onConflict('id')
        .ignore();
      const audience = input.requiredCapabilities.length ? input.requiredCapabilities.map(rooms.capability) : [rooms.allAgents];
      await events.publish({
        type: 'contract:new',
        rooms: audience,
        data: {
          contract_id: input.contractId,
          intent: input.intent,
          required_capabilities: input.requiredCapabilities,
          reward_cents: input.rewardCents,
          currency: input.currency,
          bidding_deadline: biddingDeadline,
        },
      });
    },

    async recordBid(contractId: string, bid: BidView): Promise<void> {
      await knex('bids')
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
        .merge(['price_cents', 'eta_seconds', 'confidence', 'message', 'revision']);
      await events.publish({
        type: 'bid:new',
        rooms: [contractRoom(contractId)],
        data: { contract_id: contractId, bid_id: bid.bidId, agent_id: bid.agentId, price_cents: bid.priceCents, eta_seconds: bid.etaSeconds, confidence: bid.confidence, revision: bid.revision },
      });
    },

    async recordAward(contractId: string, award: Award): Promise<void> {
      await knex.transaction(async (trx) => {
        await trx('contracts').where({ id: contractId }).update({
          status: 'AWARDED',
          awarded_bid_id: award.bidId,
          awarded_agent_id: award.agentId,
          awarded_price_cents: award.priceCents,
          awarded_at: award.awardedAt,
          award: JSON.stringify(award),
        });
        await trx('bids').where({ contract_id: contractId }).update({
          status: trx.raw("CASE WHEN id = ? THEN 'awarded'::bid_status ELSE 'lost'::bid_status END", [award.bidId]),
        });
        for (const r of award.ranking) {
          await trx('bids').where({ id: r.bidId }).update({ score: JSON.stringify(r) });
        }
      });
    },

    async setContractStatus(
      contractId: string,
      status: ContractStatus,
      fields: {
        failureReason?: FailureReason | null;
        statusDetail?: string | null;
        deliveryDeadline?: string | null;
        closedAt?: string | null;
      } = {},
    ): Promise<void> {
      await knex('contracts')
        .where({ id: contractId })
        .update({
          status,
          ...(fields.failureReason !== undefined && { failure_reason: fields.failureReason }),
          ...(fields.statusDetail !== undefined && { status_detail: fields.statusDetail }),
          ...(fields.deliveryDeadline !== undefined && { delivery_deadline: fields.deliveryDeadline }),
          ...(fields.closedAt !== undefined && { closed_at: fields.closedAt }),
        });
      await events.publish({
        type: 'contract:status',
        rooms: [contractRoom(contractId)],
        data: { contract_id: contractId, status, failure_reason: fields.failureReason ?? null, status_detail: fields.statusDetail ?? null },
      });
      if (status === 'IN_PROGRESS') {
        // The award is told to the winner once its escrow is held and work can start.
        const c = await knex('contracts').where({ id: contractId }).first('awarded_agent_id', 'awarded_bid_id', 'awarded_price_cents', 'delivery_deadline');
        await events.publish({
          type: 'contract:awarded',
          rooms: [rooms.agent(c.awarded_agent_id)],
          data: { contract_id: contractId, bid_id: c.awarded_bid_id, price_cents: Number(c.awarded_price_cents), delivery_deadline: c.delivery_deadline },
        });
      }
      // Agents that bid hear when the contract ends: cancelled, or closed any other way.
      if (status === 'CANCELLED' || status === 'SETTLED' || status === 'FAILED' || status === 'EXPIRED') {
        await events.publish({
          type: status === 'CANCELLED' ? 'contract:cancelled' : 'contract:closed',
          rooms: await bidderRooms(contractId),
          data: { contract_id: contractId, status },
        });
      }
    },

    async recordDelivery(contractId: string, delivery: DeliveryView, reviewDeadline: string): Promise<void> {
      await knex.transaction(async (trx) => {
        await trx('deliveries')
          .insert({
            id: delivery.deliveryId,
            contract_id: contractId,
            agent_id: delivery.agentId,
            bid_id: delivery.bidId,
            attempt: delivery.attempt,
            source: delivery.source ?? 'agent',
            output: JSON.stringify(delivery.output),
            delivered_at: delivery.deliveredAt,
          })
          .onConflict(['contract_id', 'attempt'])
          .ignore();
        await trx('contracts')
          .where({ id: contractId })
          .update({ status: 'DELIVERED', delivered_at: delivery.deliveredAt, review_deadline: reviewDeadline });
      });
      await events.publish({
        type: 'delivery:new',
        rooms: [contractRoom(contractId)],
        data: { contract_id: contractId, delivery_id: delivery.deliveryId, agent_id: delivery.agentId, attempt: delivery.attempt, source: delivery.source ?? 'agent', output: delivery.output },
      });
    },

    async recordReview(contractId: string, attempt: number, review: Review): Promise<void> {
      await knex.transaction(async (trx) => {
        await trx('deliveries')
          .where({ contract_id: contractId, attempt })
          .update({
            status: review.decision,
            rating: review.rating,
            review_comment: review.comment ?? review.reason,
            reviewed_at: review.reviewedAt,
          });
        if (review.rating !== null) await trx('contracts').where({ id: contractId }).update({ rating: review.rating });
      });
    },
  };
}
