import Router from '@koa/router';
import type { Knex } from 'knex';
import { z } from 'zod';
import { toMetricRow } from '../../db/trust-sql';
import { computeTrust, type TrustReport } from '../../domain/trust';
import type { ApiDeps } from '../deps';
import { notFound } from '../errors';
import { intFromText, parse, pathId } from '../validate';

const LEADERBOARD_METRICS = {
  trust_score: 't.trust_score',
  total_earnings: 't.total_earnings_cents',
  total_contracts: 't.total_contracts',
  success_rate: 't.success_rate',
} as const;

export const leaderboardQuery = z.object({
  metric: z.enum(Object.keys(LEADERBOARD_METRICS) as [keyof typeof LEADERBOARD_METRICS]).default('trust_score'),
  limit: intFromText(z.number().int().min(1).max(100)).default(10),
});

const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));

/** The cached report, or (for an agent not yet scored) the same computation on the spot. */
async function reportOf(knex: Knex, agentId: string): Promise<TrustReport | null> {
  const agent = await knex('agents').where({ id: agentId }).whereNull('deleted_at').first('id', 'created_at', 'last_seen_at');
  if (!agent) return null;
  const t = await knex('agent_trust_scores').where({ agent_id: agentId }).first();
  if (t) {
    return {
      trust_score: Number(t.trust_score),
      grade: t.grade,
      breakdown: {
        success_rate: Number(t.success_rate),
        latency_score: Number(t.latency_score),
        rating_score: Number(t.rating_score),
        uptime_score: Number(t.uptime_score),
        consistency_score: Number(t.consistency_score),
      },
      badges: t.badges,
      stats: {
        total_contracts: t.total_contracts,
        successful_contracts: t.successful_contracts,
        success_percentage: t.total_contracts ? Math.round((t.successful_contracts / t.total_contracts) * 10_000) / 100 : 0,
        avg_execution_time: num(t.avg_execution_seconds),
        total_earnings: Number(t.total_earnings_cents),
      },
    };
  }
  const metrics = await knex('agent_metrics').where({ agent_id: agentId });
  return computeTrust({
    metrics: metrics.map(toMetricRow),
    createdAt: new Date(agent.created_at),
    lastSeenAt: agent.last_seen_at ? new Date(agent.last_seen_at) : null,
    now: new Date(),
  });
}

// Public reputation: the shapes of the original marketplace API. Money is integer cents.
export function marketplaceRouter({ knex, auth }: ApiDeps): Router {
  const r = new Router({ prefix: '/marketplace' });
  r.use(auth.limitPublicReads);

  r.get('/agents/:id/trust-score', async (ctx) => {
    const id = pathId(ctx.params.id);
    const report = await reportOf(knex, id);
    if (!report) throw notFound('agent');
    ctx.body = { agent_id: id, trust_score: report.trust_score, grade: report.grade };
  });

  r.get('/agents/:id/reputation', async (ctx) => {
    const report = await reportOf(knex, pathId(ctx.params.id));
    if (!report) throw notFound('agent');
    ctx.body = { trust_score: report.trust_score, grade: report.grade, breakdown: report.breakdown, badges: report.badges, stats: report.stats };
  });

  r.get('/leaderboard', async (ctx) => {
    const q = parse(leaderboardQuery, ctx.query);
    const rows = await knex('agent_trust_scores as t')
      .join('agents as a', 'a.id', 't.agent_id')
      .where('a.status', 'active')
      .whereNull('a.deleted_at')
      .orderBy([
        { column: LEADERBOARD_METRICS[q.metric], order: 'desc' },
        { column: 't.trust_score', order: 'desc' },
        { column: 'a.id', order: 'asc' },
      ])
      .limit(q.limit)
      .select('t.*', 'a.name');
    ctx.body = {
      metric: q.metric,
      data: rows.map((t, i) => ({
        rank: i + 1,
        agent_id: t.agent_id,
        name: t.name,
        grade: t.grade,
        trust_score: Number(t.trust_score),
        total_earnings: Number(t.total_earnings_cents),
        total_contracts: t.total_contracts,
        success_rate: Number(t.success_rate),
        badges: t.badges,
      })),
    };
  });

  return r;
}
