import type { Knex } from 'knex';

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

// One metric row per agent per contract outcome; the agent's counters move only when the
// row is new, so a retried activity changes nothing.
export function createMetricActivities({ knex }: { knex: Knex }) {
  return {
    async recordAgentMetric(m: AgentMetricInput): Promise<void> {
      await knex.transaction(async (trx) => {
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
        if (inserted.length === 0 || m.outcome !== 'success') return;
        await trx('agents')
          .where({ id: m.agentId })
          .update({
            tasks_completed: trx.raw('tasks_completed + 1'),
            rating: trx.raw(
              '(SELECT round(avg(rating)::numeric, 2) FROM agent_metrics WHERE agent_id = ? AND rating IS NOT NULL)',
              [m.agentId],
            ),
          });
      });
    },
  };
}
