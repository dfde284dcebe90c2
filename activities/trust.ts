import type { Knex } from 'knex';
import { recomputeTrustScores } from '../db/trust-sql';
import { NEUTRAL_REPUTATION } from '../domain/ranking';

// Trust for the workflows: recompute one agent after each outcome, everyone nightly (one
// set-based statement either way), and read the cached scores the award ranking uses.
export function createTrustActivities({ knex }: { knex: Knex }) {
  return {
    async recomputeAgentTrust(agentId: string): Promise<void> {
      await recomputeTrustScores(knex, { agentIds: [agentId] });
    },

    async recomputeAllTrust(): Promise<number> {
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
