import type { Knex } from 'knex';
import { recomputeTrustScores } from '../db/trust-sql';

export interface AgentMetricInput {
  agentId: string;
  contractId: string;
  outcome: 'success' | 'failure';
  failureReason: string | null;
  promisedEtaSeconds: number;
  actualSeconds: number | null;
  rating: number | null;
  priceCents: number;
  /** Present when the work was a sandbox run. */
  executionMs?: number;
  fuelConsumed?: number;
}

/**
 * Records one contract outcome in `trx`: the metric row (one per agent per contract), and —
 * only when that row is new — the agent's counters and its trust score. The row's insert
 * folds it into the agent's running aggregates (a trigger, same transaction; see the
 * agent_trust_aggregates migration), and the score is re-derived from that one aggregates row,
 * so the cost does not grow with the agent's history. Returns whether the row was new: a
 * retried activity, or a second call for the same contract, changes nothing.
 *
 * Call it inside the transaction that settles or fails the contract to make the metric and the
 * trust update part of that transition.
 */
export async function recordAgentMetricIn(trx: Knex.Transaction, m: AgentMetricInput): Promise<boolean> {
  const inserted = await trx('agent_metrics')
    .insert({
      agent_id: m.agentId,
      contract_id: m.contractId,
      outcome: m.outcome,
      failure_reason: m.failureReason,
      promised_eta_seconds: m.promisedEtaSeconds,
      actual_seconds: m.actualSeconds,
      rating: m.rating,
      price_cents: m.outcome === 'success' ? m.priceCents : 0,
      execution_ms: m.executionMs ?? null,
      fuel_consumed: m.fuelConsumed ?? null,
    })
    .onConflict(['contract_id', 'agent_id'])
    .ignore()
    .returning('id');
  if (inserted.length === 0) return false;
  if (m.outcome === 'success') {
    await trx('agents')
      .where({ id: m.agentId })
      .update({
        tasks_completed: trx.raw('tasks_completed + 1'),
        // The mean of every rating the agent got (avg(rating) over its metric rows), from the aggregates.
        rating: trx.raw(
          '(SELECT round(rating_sum::numeric / nullif(rating_count, 0), 2) FROM agent_trust_aggregates WHERE agent_id = ?)',
          [m.agentId],
        ),
      });
  }
  await recomputeTrustScores(trx, { agentIds: [m.agentId] });
  return true;
}

// One metric row per agent per contract outcome; the agent's counters and trust score move
// only when the row is new, so a retried activity changes nothing.
export function createMetricActivities({ knex }: { knex: Knex }) {
  return {
    async recordAgentMetric(m: AgentMetricInput): Promise<void> {
      await knex.transaction((trx) => recordAgentMetricIn(trx, m));
    },
  };
}
