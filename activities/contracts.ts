import type { Knex } from 'knex';
import { storeBids } from '../db/bids';
import { lockContract, transitionContract } from '../db/contract-transition';
import { acceptanceRow } from '../domain/acceptance';
import type { Award, BidView, ContractInput, DeliveryView, Review } from '../domain/contract-types';
import type { ContractStatus, FailureReason } from '../domain/statuses';
import { rooms } from '../lib/events';
import { contractMetrics, countEnded, type ContractMetrics } from '../lib/metrics';
import { Registry } from 'prom-client';
import { appendEvents } from '../lib/outbox';
import { appendAudit } from '../lib/audit';
import { canonicalSha256 } from '../domain/audit';
import type { ExecutionPlan } from '../domain/execution';
import { planExecution, type PlanConfig } from './execution-plans';
import { recordAgentMetricIn, type AgentMetricInput } from './metrics';

// Postgres writes for the contract workflow: one activity, one transaction per transition,
// with everything that transition implies (its status, its rows, its outbox events, its audit
// record, the agent's metric and trust score where the contract ends). Temporal may retry any
// of these, so each is idempotent: inserts use natural keys, updates set absolute values.
// Status changes go through transitionContract, and every event is appended to the outbox in
// the transaction of the change it reports, only when that change is new (so a retry
// announces nothing twice). Starts and ends are counted the same way: once, after the commit.
export function createContractActivities({
  knex,
  config,
  metrics = contractMetrics(new Registry()),
}: {
  knex: Knex;
  config: PlanConfig;
  metrics?: ContractMetrics;
}) {
  return {
    async persistContract(input: ContractInput, biddingDeadline: string): Promise<void> {
      const created = await knex.transaction(async (trx) => {
        // The row is born BIDDING; every later status is a transition.
        const [created] = await trx('contracts')
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
            acceptance: input.acceptance ? JSON.stringify(acceptanceRow(input.acceptance)) : null,
          })
          .onConflict('id')
          .ignore()
          .returning('id');
        if (!created) return false;
        const audience = input.requiredCapabilities.length ? input.requiredCapabilities.map(rooms.capability) : [rooms.allAgents];
        await appendEvents(trx, input.contractId, [
          {
            type: 'contract:status',
            rooms: [rooms.contract(input.contractId)],
            data: { contract_id: input.contractId, status: 'BIDDING', failure_reason: null, status_detail: null },
          },
          {
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
          },
        ]);
        // The terms the money depends on, as the contract was created.
        const acceptance = acceptanceFacts((input as ContractInput & { acceptance?: unknown }).acceptance);
        await appendAudit(
          trx,
          input.contractId,
          'created',
          {
            owner_id: input.userId,
            intent_sha256: canonicalSha256(input.intent),
            context_sha256: canonicalSha256(input.context),
            required_capabilities: input.requiredCapabilities,
            reward_cents: input.rewardCents,
            currency: input.currency,
            award_mode: input.awardMode,
            filters: input.filters,
            weights: input.weights,
            bidding_deadline: biddingDeadline,
            delivery_window_seconds: input.deliveryWindowSeconds,
            review_window_seconds: input.reviewWindowSeconds,
            max_reawards: input.maxReawards ?? 0,
            ...(acceptance && { acceptance }),
          },
          'created',
        );
        return true;
      });
      if (created) metrics.started.inc();
    },

    /**
     * AWARDED: every bid the workflow took (db/bids.ts: a bid whose confirmation never reached
     * Postgres is written here), marked won or lost with its score, the award, and the
     * execution plan (does the agent's binary run in the sandbox?), in one transaction.
     */
    async recordAward(contractId: string, award: Award, bids: BidView[]): Promise<ExecutionPlan | null> {
      return knex.transaction(async (trx) => {
        await storeBids(trx, contractId, bids);
        await transitionContract(trx, contractId, 'AWARDED', { award });
        // Every bid won or lost, with its score from the ranking, in one statement.
        const scores = JSON.stringify(Object.fromEntries(award.ranking.map((r) => [r.bidId, r])));
        await trx('bids')
          .where({ contract_id: contractId })
          .update({
            status: trx.raw("CASE WHEN id = ? THEN 'awarded'::bid_status ELSE 'lost'::bid_status END", [award.bidId]),
            score: trx.raw('coalesce(?::jsonb -> id::text, score)', [scores]),
          });
        await appendAudit(
          trx,
          contractId,
          'awarded',
          {
            bid_id: award.bidId,
            agent_id: award.agentId,
            price_cents: award.priceCents,
            eta_seconds: award.etaSeconds,
            mode: award.mode,
            score: award.score,
            ranked_bids: award.ranking.length,
            awarded_at: award.awardedAt,
          },
          `award/${award.bidId}`,
        );
        return planExecution(trx, config, award.agentId, award.etaSeconds);
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
      also: {
        /** Where the contract ends on the awarded agent's failure: its metric and trust score. */
        metric?: AgentMetricInput;
        /** Where it ends never awarded: the bids it took (db/bids.ts), as recordAward writes them. */
        bids?: BidView[];
      } = {},
    ): Promise<void> {
      const { metric, bids = [] } = also;
      const changed = await knex.transaction(async (trx) => {
        const before = await lockContract(trx, contractId); // the contract's row first, as everywhere
        await storeBids(trx, contractId, bids);
        if (metric) await recordAgentMetricIn(trx, metric);
        return transitionContract(trx, contractId, status, fields, { status: before });
      });
      if (changed) countEnded(metrics, status, fields.failureReason);
    },

    async recordDelivery(contractId: string, delivery: DeliveryView, reviewDeadline: string): Promise<void> {
      await knex.transaction(async (trx) => {
        const before = await lockContract(trx, contractId);
        const [created] = await trx('deliveries')
          .insert({
            id: delivery.deliveryId,
            contract_id: contractId,
            agent_id: delivery.agentId,
            bid_id: delivery.bidId,
            attempt: delivery.attempt,
            source: delivery.source ?? 'agent',
            output: JSON.stringify(delivery.output),
            output_encoding: delivery.outputEncoding ?? 'json',
            delivered_at: delivery.deliveredAt,
          })
          .onConflict(['contract_id', 'attempt'])
          .ignore()
          .returning('id');
        if (created) {
          await appendEvents(trx, contractId, [
            {
              type: 'delivery:new',
              rooms: [rooms.contract(contractId)],
              data: { contract_id: contractId, delivery_id: delivery.deliveryId, agent_id: delivery.agentId, attempt: delivery.attempt, source: delivery.source ?? 'agent', output: delivery.output, output_encoding: delivery.outputEncoding ?? 'json' },
            },
          ]);
          await appendAudit(
            trx,
            contractId,
            'delivery',
            {
              delivery_id: delivery.deliveryId,
              agent_id: delivery.agentId,
              bid_id: delivery.bidId,
              attempt: delivery.attempt,
              source: delivery.source ?? 'agent',
              // SHA-256 of the output's RFC 8785 canonical JSON, as stored and served.
              output_sha256: canonicalSha256(delivery.output ?? null),
              output_encoding: delivery.outputEncoding ?? 'json',
              delivered_at: delivery.deliveredAt,
            },
            `delivery/${delivery.attempt}`,
          );
        }
        await transitionContract(trx, contractId, 'DELIVERED', { deliveredAt: delivery.deliveredAt, reviewDeadline }, { status: before });
      });
    },

    async recordReview(contractId: string, attempt: number, review: Review): Promise<void> {
      await knex.transaction(async (trx) => {
        await lockContract(trx, contractId);
        await trx('deliveries')
          .where({ contract_id: contractId, attempt })
          .update({
            status: review.decision,
            rating: review.rating,
            review_comment: review.comment ?? review.reason,
            reviewed_at: review.reviewedAt,
          });
        if (review.rating !== null) await trx('contracts').where({ id: contractId }).update({ rating: review.rating });
        const reviewed = await trx('deliveries').where({ contract_id: contractId, attempt }).first('id');
        await appendAudit(
          trx,
          contractId,
          'review',
          {
            delivery_id: reviewed?.id ?? null,
            attempt,
            decision: review.decision,
            rating: review.rating,
            comment: review.comment,
            reason: review.reason,
            automatic: review.automatic,
            reviewed_at: review.reviewedAt,
          },
          `review/${attempt}`,
        );
      });
    },
  };
}

/** A contract's acceptance checks as its terms: which schema (by hash) and which verifier, and what a pass does. */
function acceptanceFacts(a: unknown): Record<string, unknown> | null {
  if (a === undefined || a === null || typeof a !== 'object') return null;
  const o = a as { outputSchema?: unknown; verifier?: { id?: string; name?: string; sha256?: string } | null; onPass?: unknown };
  return {
    output_schema_sha256: o.outputSchema === undefined || o.outputSchema === null ? null : canonicalSha256(o.outputSchema),
    verifier: o.verifier ? { id: o.verifier.id ?? null, name: o.verifier.name ?? null, sha256: o.verifier.sha256 ?? null } : null,
    on_pass: o.onPass ?? null,
  };
}
