import { describe, expect, it } from 'vitest';
import { badgesOf, computeTrust, gradeOf, type MetricRow } from '../../domain/trust';

const now = new Date('2026-11-22T12:00:00Z');
const daysAgo = (d: number) => new Date(now.getTime() - d * 86_400_000);
const m = (over: Partial<MetricRow> = {}): MetricRow => ({
  outcome: 'success',
  promisedEtaSeconds: 100,
  actualSeconds: 100,
  rating: null,
  priceCents: 1_000,
  executionMs: null,
  recordedAt: daysAgo(0),
  ...over,
});

describe('trust score', () => {
  it('a brand-new agent is neutral: 0.5 everywhere, grade D, no badges', () => {
    const r = computeTrust({ metrics: [], createdAt: now, lastSeenAt: null, now });
    expect(r).toEqual({
      trust_score: 0.5,
      grade: 'D',
      breakdown: { success_rate: 0.5, latency_score: 0.5, rating_score: 0.5, uptime_score: 0.5, consistency_score: 0.5 },
      badges: [],
      stats: { total_contracts: 0, successful_contracts: 0, success_percentage: 0, avg_execution_time: null, total_earnings: 0 },
    });
  });

  it('hand-computed: 3 successes and 1 failure over 10 days', () => {
    // success 3/4 = 0.75
    // latency: on time (1), 150 s of 100 promised (1 − 50/100 = 0.5), 300 of 100 (floored 0) → mean 0.5
    // ratings 5, 3 → mean 4 → (4 − 1)/4 = 0.75
    // uptime: active on 3 distinct days of a 10-day-old agent → 0.3
    // consistency: times 100, 150, 300 s → mean 183.33, pop. sd 84.98, CV 0.4635 → 1/1.4635 = 0.6833
    const metrics = [
      m({ actualSeconds: 100, rating: 5, recordedAt: daysAgo(1) }),
      m({ actualSeconds: 150, rating: 3, recordedAt: daysAgo(1) }),
      m({ actualSeconds: 300, recordedAt: daysAgo(2) }),
      m({ outcome: 'failure', actualSeconds: null, priceCents: 0, recordedAt: daysAgo(5) }),
    ];
    const r = computeTrust({ metrics, createdAt: daysAgo(10), lastSeenAt: null, now });
    expect(r.breakdown).toEqual({ success_rate: 0.75, latency_score: 0.5, rating_score: 0.75, uptime_score: 0.3, consistency_score: 0.6833 });
    // 0.4·0.75 + 0.2·0.5 + 0.2·0.75 + 0.1·0.3 + 0.1·0.68328 = 0.648328
    expect(r.trust_score).toBe(0.6483);
    expect(r.grade).toBe('C');
    expect(r.stats).toEqual({ total_contracts: 4, successful_contracts: 3, success_percentage: 75, avg_execution_time: 183.333, total_earnings: 3_000 });
    expect(r.badges).toEqual([]);
  });

  it('hand-computed: a flawless, fast, busy WASM agent', () => {
    // 120 successes, each on time, rated 5, sandbox runs of exactly 2 s, one a day for 30 days
    const metrics = Array.from({ length: 120 }, (_, i) =>
      m({ actualSeconds: 50, rating: 5, executionMs: 2_000, priceCents: 10_000, recordedAt: daysAgo(i % 30) }),
    );
    const r = computeTrust({ metrics, createdAt: daysAgo(400), lastSeenAt: now, now });
    expect(r.breakdown).toEqual({ success_rate: 1, latency_score: 1, rating_score: 1, uptime_score: 1, consistency_score: 1 });
    expect(r).toMatchObject({ trust_score: 1, grade: 'A+' });
    expect(r.badges).toEqual(['Elite', 'Experienced', 'Top Earner', 'Perfect', 'Lightning Fast']);
    expect(r.stats).toMatchObject({ avg_execution_time: 2, total_earnings: 1_200_000 });
  });

  it('uptime counts being seen, not only outcomes, within the last 30 days', () => {
    const r = computeTrust({ metrics: [m({ recordedAt: daysAgo(40) })], createdAt: daysAgo(100), lastSeenAt: daysAgo(0.1), now });
    expect(r.breakdown.uptime_score).toBe(round(1 / 30));
  });

  it('consistency needs two timed successes; equal times are perfectly consistent', () => {
    expect(computeTrust({ metrics: [m()], createdAt: daysAgo(1), lastSeenAt: null, now }).breakdown.consistency_score).toBe(0.5);
    expect(computeTrust({ metrics: [m(), m()], createdAt: daysAgo(1), lastSeenAt: null, now }).breakdown.consistency_score).toBe(1);
  });
});

describe('grades', () => {
  it.each([
    [1, 'A+'], [0.95, 'A+'], [0.94999, 'A+'], [0.9499, 'A'], [0.9, 'A'], [0.85, 'A-'], [0.8, 'B+'], [0.75, 'B'],
    [0.7, 'B-'], [0.65, 'C+'], [0.6, 'C'], [0.55, 'C-'], [0.5, 'D'], [0.4999, 'F'], [0, 'F'],
  ] as const)('%s → %s', (score, grade) => expect(gradeOf(score)).toBe(grade));
});

describe('badges at their thresholds', () => {
  const base = {
    trust_score: 0.5,
    breakdown: { success_rate: 0.5, latency_score: 0.5, rating_score: 0.5, uptime_score: 0.5, consistency_score: 0.5 },
    stats: { total_contracts: 0, successful_contracts: 0, success_percentage: 0, avg_execution_time: null, total_earnings: 0 },
    latencyMeasured: false,
  };
  const badges = (over: { trust?: number; total?: number; earnings?: number; success?: number; latency?: number; measured?: boolean }) =>
    badgesOf({
      ...base,
      trust_score: over.trust ?? 0.5,
      breakdown: { ...base.breakdown, success_rate: over.success ?? 0.5, latency_score: over.latency ?? 0.5 },
      stats: { ...base.stats, total_contracts: over.total ?? 0, total_earnings: over.earnings ?? 0 },
      latencyMeasured: over.measured ?? false,
    });

  it('trust tiers: Elite ≥ 0.95, Verified Pro ≥ 0.85, Verified ≥ 0.70', () => {
    expect([0.95, 0.9499, 0.85, 0.8499, 0.7, 0.6999].map((trust) => badges({ trust }))).toEqual([
      ['Elite'], ['Verified Pro'], ['Verified Pro'], ['Verified'], ['Verified'], [],
    ]);
  });
  it('volume: Veteran 1000+, Experienced 100+', () => {
    expect([1000, 999, 100, 99].map((total) => badges({ total }))).toEqual([['Veteran'], ['Experienced'], ['Experienced'], []]);
  });
  it('earnings: Top Earner $10k+, Professional $1k+', () => {
    expect([1_000_000, 999_999, 100_000, 99_999].map((earnings) => badges({ earnings }))).toEqual([['Top Earner'], ['Professional'], ['Professional'], []]);
  });
  it('success: Perfect 99%+, Reliable 95%+, from 10 contracts on', () => {
    expect([0.99, 0.9899, 0.95, 0.9499].map((success) => badges({ success, total: 10 }))).toEqual([['Perfect'], ['Reliable'], ['Reliable'], []]);
    expect(badges({ success: 1, total: 9 })).toEqual([]);
  });
  it('Lightning Fast: latency ≥ 0.90, only when measured', () => {
    expect(badges({ latency: 0.9, measured: true })).toEqual(['Lightning Fast']);
    expect(badges({ latency: 0.8999, measured: true })).toEqual([]);
    expect(badges({ latency: 0.95, measured: false })).toEqual([]);
  });
});

function round(x: number) {
  return Math.round(x * 1e4) / 1e4;
}
