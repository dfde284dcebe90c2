import type { Knex } from 'knex';
import { MIN_CONTRACTS_FOR_SUCCESS_BADGES, NEUTRAL_FACTOR, TRUST_WEIGHTS, UPTIME_WINDOW_DAYS, type MetricRow } from '../domain/trust';

// domain/trust.ts as one set-based statement: every factor, the score, grade and badges for
// all agents (or the given ones) from agent_metrics in a single INSERT … SELECT … ON CONFLICT,
// whatever the number of agents. The definitions are in domain/trust.ts; keep the two equal
// (test/integration/trust.test.ts compares them on random histories).
const N = NEUTRAL_FACTOR;
const W = TRUST_WEIGHTS;
const SQL = `
WITH clock AS (SELECT coalesce(:now::timestamptz, now()) AS now),
a AS (
  SELECT id AS agent_id, created_at, last_seen_at,
    CASE WHEN last_seen_at > (SELECT now FROM clock) - interval '${UPTIME_WINDOW_DAYS} days' AND last_seen_at <= (SELECT now FROM clock)
         THEN floor(extract(epoch FROM last_seen_at) / 86400) END AS seen_day
  FROM agents
  WHERE deleted_at IS NULL AND (:all OR id = ANY(:ids::uuid[]))
), m AS (
  -- One pass over each agent's metric rows for every aggregate, uptime days included.
  SELECT agent_id,
    count(*) AS total,
    count(*) FILTER (WHERE outcome = 'success') AS successes,
    avg(CASE WHEN actual_seconds <= promised_eta_seconds THEN 1.0
             ELSE greatest(0, 1 - (actual_seconds - promised_eta_seconds)::numeric / promised_eta_seconds) END)
      FILTER (WHERE outcome = 'success' AND promised_eta_seconds > 0 AND actual_seconds IS NOT NULL) AS latency,
    avg(rating) AS mean_rating,
    count(coalesce(execution_ms / 1000.0, actual_seconds)) FILTER (WHERE outcome = 'success') AS timed,
    avg(coalesce(execution_ms / 1000.0, actual_seconds)) FILTER (WHERE outcome = 'success') AS dur_mean,
    stddev_pop(coalesce(execution_ms / 1000.0, actual_seconds)) FILTER (WHERE outcome = 'success') AS dur_sd,
    coalesce(sum(price_cents) FILTER (WHERE outcome = 'success'), 0) AS earnings,
    count(DISTINCT floor(extract(epoch FROM recorded_at) / 86400)) FILTER (WHERE in_window) AS metric_days,
    coalesce(bool_or(floor(extract(epoch FROM recorded_at) / 86400) = seen_day) FILTER (WHERE in_window), false) AS seen_on_metric_day
  FROM (
    SELECT am.*, a.seen_day,
      am.recorded_at > (SELECT now FROM clock) - interval '${UPTIME_WINDOW_DAYS} days' AND am.recorded_at <= (SELECT now FROM clock) AS in_window
    FROM agent_metrics am JOIN a USING (agent_id)
  ) rows
  GROUP BY agent_id
), f AS (
  SELECT a.agent_id,
    coalesce(m.total, 0) AS total,
    coalesce(m.successes, 0) AS successes,
    coalesce(m.earnings, 0) AS earnings,
    m.dur_mean,
    m.latency IS NOT NULL AS latency_measured,
    CASE WHEN coalesce(m.total, 0) = 0 THEN ${N} ELSE m.successes::numeric / m.total END AS success_rate,
    coalesce(m.latency, ${N}) AS latency_score,
    CASE WHEN m.mean_rating IS NULL THEN ${N} ELSE (m.mean_rating - 1) / 4 END AS rating_score,
    CASE WHEN coalesce(m.total, 0) = 0 AND a.last_seen_at IS NULL THEN ${N}
         ELSE least(1, (coalesce(m.metric_days, 0) + CASE WHEN a.seen_day IS NOT NULL AND NOT coalesce(m.seen_on_metric_day, false) THEN 1 ELSE 0 END)::numeric
              / least(${UPTIME_WINDOW_DAYS}, greatest(1, ceil(extract(epoch FROM ((SELECT now FROM clock) - a.created_at)) / 86400)))) END AS uptime_score,
    CASE WHEN coalesce(m.timed, 0) < 2 THEN ${N}
         WHEN m.dur_mean > 0 THEN 1 / (1 + m.dur_sd / m.dur_mean)
         ELSE 1 END AS consistency_score
  FROM a LEFT JOIN m USING (agent_id)
), s AS (
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
  total, successes, earnings, round(dur_mean::numeric, 3), (SELECT now FROM clock)
FROM s
ON CONFLICT (agent_id) DO UPDATE SET
  trust_score = excluded.trust_score, grade = excluded.grade, success_rate = excluded.success_rate,
  latency_score = excluded.latency_score, rating_score = excluded.rating_score, uptime_score = excluded.uptime_score,
  consistency_score = excluded.consistency_score, badges = excluded.badges, total_contracts = excluded.total_contracts,
  successful_contracts = excluded.successful_contracts, total_earnings_cents = excluded.total_earnings_cents,
  avg_execution_seconds = excluded.avg_execution_seconds, computed_at = excluded.computed_at`;

/** Recompute and cache trust for every agent, or only `agentIds`. Returns how many rows. */
export async function recomputeTrustScores(knex: Knex, opts: { agentIds?: string[]; now?: Date } = {}): Promise<number> {
  // Without an explicit time, the database's own clock: metric rows carry its timestamps.
  const res = await knex.raw(SQL, { all: !opts.agentIds, ids: opts.agentIds ?? [], now: opts.now?.toISOString() ?? null });
  return res.rowCount ?? 0;
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
