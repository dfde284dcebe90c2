// The trust score, its grade and badges: pure functions over an agent's metric rows. The
// set-based SQL in db/trust-sql.ts computes exactly the same thing for every agent at once;
// a test holds the two to each other.
//
//   trust = 0.40 success_rate + 0.20 latency_score + 0.20 rating_score
//         + 0.10 uptime_score + 0.10 consistency_score            (each in [0, 1])
//
// success_rate       successful outcomes / all outcomes (success or failure) the agent had.
// latency_score      mean over successes with a promised ETA and an actual time of: 1 when
//                    delivered within the ETA, else 1 − (actual − promised) / promised, floored
//                    at 0 (so twice the promise or later scores 0).
// rating_score       mean rating mapped 1–5 → 0–1, i.e. (mean − 1) / 4.
// uptime_score       days active in the last 30 / days the agent could have been (its age in
//                    whole days, 1 to 30). Active = it had an outcome that day (UTC) or was
//                    seen that day (last_seen_at).
// consistency_score  1 / (1 + CV), CV = population stddev / mean of the work time of its
//                    successes (the sandbox run time when there was one, else the time to
//                    deliver); needs two or more timed successes.
//
// A factor without data is NEUTRAL (0.5), so a brand-new agent scores 0.5 (grade D) until it
// has a record: neither trusted nor penalised.

export const TRUST_WEIGHTS = { success: 0.4, latency: 0.2, rating: 0.2, uptime: 0.1, consistency: 0.1 } as const;
export const NEUTRAL_FACTOR = 0.5;
export const UPTIME_WINDOW_DAYS = 30;
/** Perfect and Reliable need at least this many outcomes to mean anything. */
export const MIN_CONTRACTS_FOR_SUCCESS_BADGES = 10;
const DAY_MS = 86_400_000;

export interface MetricRow {
  outcome: 'success' | 'failure';
  promisedEtaSeconds: number | null;
  actualSeconds: number | null;
  rating: number | null;
  priceCents: number;
  executionMs: number | null;
  recordedAt: Date;
}

export interface TrustBreakdown {
  success_rate: number;
  latency_score: number;
  rating_score: number;
  uptime_score: number;
  consistency_score: number;
}

export interface TrustStats {
  total_contracts: number;
  successful_contracts: number;
  /** 0–100, two decimals. */
  success_percentage: number;
  /** Seconds, mean over timed successes; null without any. */
  avg_execution_time: number | null;
  /** Integer cents earned on successes (price before the platform fee). */
  total_earnings: number;
}

export interface TrustReport {
  trust_score: number;
  grade: Grade;
  breakdown: TrustBreakdown;
  badges: Badge[];
  stats: TrustStats;
}

export const GRADES = [
  ['A+', 0.95],
  ['A', 0.9],
  ['A-', 0.85],
  ['B+', 0.8],
  ['B', 0.75],
  ['B-', 0.7],
  ['C+', 0.65],
  ['C', 0.6],
  ['C-', 0.55],
  ['D', 0.5],
  ['F', 0],
] as const;
export type Grade = (typeof GRADES)[number][0];

export const BADGES = [
  'Elite',
  'Verified Pro',
  'Verified',
  'Veteran',
  'Experienced',
  'Top Earner',
  'Professional',
  'Perfect',
  'Reliable',
  'Lightning Fast',
] as const;
export type Badge = (typeof BADGES)[number];

/** Scores are kept to 4 decimals (the column is numeric(5,4)); grades read the kept value. */
export const round4 = (x: number) => Math.round(x * 1e4) / 1e4;

export function gradeOf(score: number): Grade {
  const s = round4(score);
  return GRADES.find(([, min]) => s >= min)![0];
}

/** One badge per family, the highest earned: trust tier, volume, earnings, success, speed. */
export function badgesOf(report: { trust_score: number; breakdown: TrustBreakdown; stats: TrustStats; latencyMeasured: boolean }): Badge[] {
  const { trust_score: t, stats: s } = report;
  const out: Badge[] = [];
  if (t >= 0.95) out.push('Elite');
  else if (t >= 0.85) out.push('Verified Pro');
  else if (t >= 0.7) out.push('Verified');
  if (s.total_contracts >= 1000) out.push('Veteran');
  else if (s.total_contracts >= 100) out.push('Experienced');
  if (s.total_earnings >= 1_000_000) out.push('Top Earner');
  else if (s.total_earnings >= 100_000) out.push('Professional');
  if (s.total_contracts >= MIN_CONTRACTS_FOR_SUCCESS_BADGES) {
    if (report.breakdown.success_rate >= 0.99) out.push('Perfect');
    else if (report.breakdown.success_rate >= 0.95) out.push('Reliable');
  }
  if (report.latencyMeasured && report.breakdown.latency_score >= 0.9) out.push('Lightning Fast');
  return out;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** The whole report for one agent from its metric rows, as of `now`. */
export function computeTrust(input: { metrics: MetricRow[]; createdAt: Date; lastSeenAt: Date | null; now: Date }): TrustReport {
  const { metrics, now } = input;
  const successes = metrics.filter((m) => m.outcome === 'success');

  const success_rate = metrics.length ? successes.length / metrics.length : NEUTRAL_FACTOR;

  const timed = successes.filter((m) => m.promisedEtaSeconds !== null && m.promisedEtaSeconds > 0 && m.actualSeconds !== null);
  const latency_score = timed.length
    ? mean(timed.map((m) => (m.actualSeconds! <= m.promisedEtaSeconds! ? 1 : Math.max(0, 1 - (m.actualSeconds! - m.promisedEtaSeconds!) / m.promisedEtaSeconds!))))
    : NEUTRAL_FACTOR;

  const ratings = metrics.filter((m) => m.rating !== null).map((m) => m.rating!);
  const rating_score = ratings.length ? (mean(ratings) - 1) / 4 : NEUTRAL_FACTOR;

  const windowStart = now.getTime() - UPTIME_WINDOW_DAYS * DAY_MS;
  const activeDays = new Set<number>();
  for (const m of metrics) if (m.recordedAt.getTime() > windowStart && m.recordedAt <= now) activeDays.add(Math.floor(m.recordedAt.getTime() / DAY_MS));
  if (input.lastSeenAt && input.lastSeenAt.getTime() > windowStart && input.lastSeenAt <= now) activeDays.add(Math.floor(input.lastSeenAt.getTime() / DAY_MS));
  const ageDays = Math.min(UPTIME_WINDOW_DAYS, Math.max(1, Math.ceil((now.getTime() - input.createdAt.getTime()) / DAY_MS)));
  const uptime_score = metrics.length === 0 && input.lastSeenAt === null ? NEUTRAL_FACTOR : Math.min(1, activeDays.size / ageDays);

  // Durations in whole milliseconds, summed exactly (BigInt), as the aggregates keep them: a
  // float sum would depend on the rows' order and could round a mean differently.
  const durationsMs = successes
    .map((m) => (m.executionMs !== null ? Math.round(m.executionMs) : m.actualSeconds !== null ? m.actualSeconds * 1000 : null))
    .filter((d): d is number => d !== null)
    .map(BigInt);
  const n = BigInt(durationsMs.length);
  const sumMs = durationsMs.reduce((a, b) => a + b, 0n);
  let consistency_score = NEUTRAL_FACTOR;
  if (durationsMs.length >= 2) {
    // sd / mean = sqrt(n·Σd² − (Σd)²) / Σd
    const spread = n * durationsMs.reduce((a, d) => a + d * d, 0n) - sumMs * sumMs;
    consistency_score = sumMs > 0n ? 1 / (1 + Math.sqrt(Number(spread)) / Number(sumMs)) : 1;
  }

  const breakdown: TrustBreakdown = {
    success_rate: round4(success_rate),
    latency_score: round4(latency_score),
    rating_score: round4(rating_score),
    uptime_score: round4(uptime_score),
    consistency_score: round4(consistency_score),
  };
  const trust_score = round4(
    TRUST_WEIGHTS.success * success_rate +
      TRUST_WEIGHTS.latency * latency_score +
      TRUST_WEIGHTS.rating * rating_score +
      TRUST_WEIGHTS.uptime * uptime_score +
      TRUST_WEIGHTS.consistency * consistency_score,
  );
  const stats: TrustStats = {
    total_contracts: metrics.length,
    successful_contracts: successes.length,
    success_percentage: metrics.length ? Math.round((successes.length / metrics.length) * 10_000) / 100 : 0,
    avg_execution_time: durationsMs.length ? Math.round(Number(sumMs) / durationsMs.length) / 1000 : null,
    total_earnings: successes.reduce((s, m) => s + m.priceCents, 0),
  };
  return { trust_score, grade: gradeOf(trust_score), breakdown, badges: badgesOf({ trust_score, breakdown, stats, latencyMeasured: timed.length > 0 }), stats };
}
