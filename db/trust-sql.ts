import type { Knex } from 'knex';
import { MIN_CONTRACTS_FOR_SUCCESS_BADGES, NEUTRAL_FACTOR, TRUST_WEIGHTS, UPTIME_WINDOW_DAYS, type MetricRow } from '../domain/trust';

// domain/trust.ts as one set-based statement over the per-agent running aggregates
// (agent_trust_aggregates, kept by a trigger on agent_metrics in the transaction that inserts
// the metric row; see its migration): every factor, the score, grade and badges for all agents
// (or the given ones) in a single INSERT … SELECT … ON CONFLICT. It reads one aggregates row
// and one agents row per agent and never agent_metrics, so re-scoring one agent after a
// settlement is O(1) and re-scoring everyone nightly is O(agents), whatever the history.
// The definitions are in domain/trust.ts; keep the two equal (test/integration/trust.test.ts
// and trust-aggregates.test.ts compare them on random histories).
const N = NEUTRAL_FACTOR;
const W = TRUST_WEIGHTS;
const SQL = `
WITH a AS (
  SELECT id AS agent_id, created_at, last_seen_at, now, now - interval '${UPTIME_WINDOW_DAYS} days' AS window_start,
    CASE WHEN last_seen_at > now - interval '${UPTIME_WINDOW_DAYS} days' AND last_seen_at <= now
         THEN floor(extract(epoch FROM last_seen_at) / 86400) END AS seen_day
  FROM agents, (SELECT coalesce(:now::timestamptz, now()) AS now) clock
  WHERE deleted_at IS NULL AND (:all OR id = ANY(:ids::uuid[]))
), m AS (
  SELECT a.*,
    coalesce(g.outcomes, 0) AS total,
    coalesce(g.successes, 0) AS successes,
    coalesce(g.earnings_cents, 0) AS earnings,
    g.latency_count, g.latency_sum, g.rating_count, g.rating_sum,
    coalesce(g.duration_count, 0) AS timed, g.duration_sum_ms::numeric AS dur_sum, g.duration_sumsq_ms AS dur_sumsq,
    -- The uptime window (window_start, now]: recent_days holds the latest outcome of each UTC
    -- day, ascending, and width_bucket(x, days) is how many of them are <= x (a binary
    -- search), so a difference of two counts the days in a half-open range.
    coalesce(width_bucket(a.now, g.recent_days) - width_bucket(a.window_start, g.recent_days), 0) AS metric_days,
    -- Whether the day seen is one of those: the entries within that day and the window.
    coalesce(width_bucket(least(a.now, to_timestamp((a.seen_day + 1) * 86400) - interval '1 microsecond'), g.recent_days)
           - width_bucket(greatest(a.window_start, to_timestamp(a.seen_day * 86400) - interval '1 microsecond'), g.recent_days), 0) > 0
      AS seen_on_metric_day
  FROM a LEFT JOIN agent_trust_aggregates g USING (agent_id)
), f AS MATERIALIZED (
  SELECT agent_id, now, total, successes, earnings,
    CASE WHEN timed > 0 THEN dur_sum / (timed * 1000) END AS dur_mean,
    coalesce(latency_count, 0) > 0 AS latency_measured,
    CASE WHEN total = 0 THEN ${N} ELSE successes::numeric / total END AS success_rate,
    CASE WHEN coalesce(latency_count, 0) = 0 THEN ${N} ELSE latency_sum / latency_count END AS latency_score,
    CASE WHEN coalesce(rating_count, 0) = 0 THEN ${N} ELSE (rating_sum::numeric / rating_count - 1) / 4 END AS rating_score,
    CASE WHEN total = 0 AND last_seen_at IS NULL THEN ${N}
         ELSE least(1, (metric_days + CASE WHEN seen_day IS NOT NULL AND NOT seen_on_metric_day THEN 1 ELSE 0 END)::numeric
              / least(${UPTIME_WINDOW_DAYS}, greatest(1, ceil(extract(epoch FROM (now - created_at)) / 86400)))) END AS uptime_score,
    -- 1 / (1 + CV) with CV = population sd / mean = sqrt(nΣd² − (Σd)²) / Σd: exact integers
    -- under the root, so the running sums give the same figure as a pass over the rows.
    CASE WHEN timed < 2 THEN ${N}
         WHEN dur_sum > 0 THEN 1 / (1 + sqrt(timed * dur_sumsq - dur_sum * dur_sum) / dur_sum)
         ELSE 1 END AS consistency_score
  FROM m
), s AS MATERIALIZED (
  SELECT f.*, round((${W.success} * success_rate + ${W.latency} * latency_score + ${W.rating} * rating_score
                    + ${W.uptime} * uptime_score + ${W.consistency} * consistency_score)::numeric, 4) AS trust
  FROM f
)
INSERT INTO agent_trust_scores AS t (agent_id, trust_score, grade, success_rate, latency_score, rating_score, uptime_score,
  consistency_score, badges, total_contracts, successful_contracts, total_earnings_cents, avg_execution_seconds, computed_at)
SELECT agent_id, trust,
  CASE WHEN trust >= 0.95 THEN 'A+' WHEN trust >= 0.9 THEN 'A' WHEN trust >= 0.85 THEN 'A-' WHEN trust >= 0.8 THEN 'B+'
       WHEN trust >= 0.75 THEN 'B' WHEN trust >= 0.7 THEN 'B-' WHEN trust >= 0.65 THEN 'C+' WHEN trust >= 0.6 THEN 'C'
       WHEN trust >= 0.55 THEN 'C-' WHEN trust >= 0.5 THEN 'D' ELSE 'F' END,
  round(success_rate::numeric, 4), round(latency_score::numeric, 4), round(rating_score::numeric, 4),
  round(uptime_score::numeric, 4), round(consistency_score::numeric, 4),
  array_remove(ARRAY[
    CASE WHEN trust >= 0.95 THEN 'Elite' WHEN trust >= 0.85 THEN 'Verified Pro' WHEN trust >= 0.7 THEN 'Verified' END,
    CASE WHEN total >= 1000 THEN 'Veteran' WHEN total >= 100 THEN 'Experienced' END,
    CASE WHEN earnings >= 1000000 THEN 'Top Earner' WHEN earnings >= 100000 THEN 'Professional' END,
    CASE WHEN total >= ${MIN_CONTRACTS_FOR_SUCCESS_BADGES} AND round(success_rate::numeric, 4) >= 0.99 THEN 'Perfect'
         WHEN total >= ${MIN_CONTRACTS_FOR_SUCCESS_BADGES} AND round(success_rate::numeric, 4) >= 0.95 THEN 'Reliable' END,
    CASE WHEN latency_measured AND round(latency_score::numeric, 4) >= 0.9 THEN 'Lightning Fast' END
  ]::text[], NULL),
  total, successes, earnings, round(dur_mean::numeric, 3), now
FROM s
ON CONFLICT (agent_id) DO UPDATE SET
  trust_score = excluded.trust_score, grade = excluded.grade, success_rate = excluded.success_rate,
  latency_score = excluded.latency_score, rating_score = excluded.rating_score, uptime_score = excluded.uptime_score,
  consistency_score = excluded.consistency_score, badges = excluded.badges, total_contracts = excluded.total_contracts,
  successful_contracts = excluded.successful_contracts, total_earnings_cents = excluded.total_earnings_cents,
  avg_execution_seconds = excluded.avg_execution_seconds, computed_at = excluded.computed_at`;

type Db = Knex | Knex.Transaction;

/**
 * Score and cache trust for every agent, or only `agentIds`, from the running aggregates.
 * Returns how many rows. Inside a transaction (`db` a Knex.Transaction) it sees that
 * transaction's own metric rows.
 */
export async function recomputeTrustScores(db: Db, opts: { agentIds?: string[]; now?: Date } = {}): Promise<number> {
  // Without an explicit time, the database's own clock: metric rows carry its timestamps.
  const res = await db.raw(SQL, { all: !opts.agentIds, ids: opts.agentIds ?? [], now: opts.now?.toISOString() ?? null });
  return res.rowCount ?? 0;
}

/**
 * Re-derive the aggregates of every agent (or only `agentIds`) from agent_metrics, set-based
 * (hermes_trust_rebuild, one GROUP BY pass). Nothing needs this in normal operation — the
 * trigger keeps them — it is the repair and the reference the incremental path is tested
 * against. `now` anchors the uptime window's day list. Returns how many aggregate rows.
 */
export async function rebuildTrustAggregates(db: Db, opts: { agentIds?: string[]; now?: Date } = {}): Promise<number> {
  const res = await db.raw('SELECT hermes_trust_rebuild(:ids::uuid[], coalesce(:now::timestamptz, now())) AS n', {
    ids: opts.agentIds ?? null,
    now: opts.now?.toISOString() ?? null,
  });
  return Number(res.rows[0].n);
}

/** An agent_metrics row as domain/trust.ts takes it. */
export function toMetricRow(m: Record<string, any>): MetricRow {
  return {
    outcome: m.outcome,
    promisedEtaSeconds: m.promised_eta_seconds,
    actualSeconds: m.actual_seconds,
    rating: m.rating,
    priceCents: Number(m.price_cents),
    executionMs: m.execution_ms,
    recordedAt: new Date(m.recorded_at),
  };
}
