import type { Knex } from 'knex';
import { rebuildTrustAggregates, recomputeTrustScores } from '../db/trust-sql';
import { NEUTRAL_REPUTATION } from '../domain/ranking';

// Trust for the workflows: re-score everyone nightly from the per-agent running aggregates (one
// set-based statement, never a scan of agent_metrics), and read the cached scores the award
// ranking uses. One agent is re-scored as its outcome is recorded (recordAgentMetricIn).
export function createTrustActivities({ knex }: { knex: Knex }) {
  return {
    /**
     * The nightly run: every agent re-scored as of now. Only uptime (a 30-day window, the
     * agent's age, last_seen_at) changes without a new outcome; the rest comes unchanged from
     * the aggregates. `rebuildAggregates` first re-derives the aggregates from agent_metrics,
     * set-based (a repair; the trigger keeps them without it).
     */
    async recomputeAllTrust(opts: { rebuildAggregates?: boolean } = {}): Promise<number> {
      if (opts.rebuildAggregates) await rebuildTrustAggregates(knex);
      return recomputeTrustScores(knex);
    },

    /** Each bidder's cached trust score; agents without one yet are neutral. */
    async loadReputations(agentIds: string[]): Promise<Record<string, number>> {
      const rows = await knex('agent_trust_scores').whereIn('agent_id', agentIds).select('agent_id', 'trust_score');
      const byId = new Map(rows.map((r) => [r.agent_id as string, Number(r.trust_score)]));
      return Object.fromEntries(agentIds.map((id) => [id, byId.get(id) ?? NEUTRAL_REPUTATION]));
    },
  };
}
