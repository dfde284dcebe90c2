import { describe, expect, it } from 'vitest';
import { NEUTRAL_REPUTATION, rankBids, type RankableBid } from '../../domain/ranking';
import { DEFAULT_WEIGHTS } from '../../domain/weights';

const bid = (id: string, priceCents: number, etaSeconds: number, confidence: number, submittedAt = '2026-01-01T00:00:00Z'): RankableBid => ({
  bidId: id,
  agentId: `agent-${id}`,
  priceCents,
  etaSeconds,
  confidence,
  submittedAt,
});
const only = (k: 'price' | 'performance' | 'speed' | 'reputation') => ({ price: 0, performance: 0, speed: 0, reputation: 0, [k]: 10_000 });

describe('rankBids', () => {
  const bids = [bid('cheap', 2_000, 3_600, 0.6), bid('fast', 8_000, 60, 0.7), bid('sure', 6_000, 600, 0.99)];

  it('computes each factor and the weighted score by hand', () => {
    const [first] = rankBids({ bids: [bid('a', 2_500, 100, 0.8), bid('b', 5_000, 200, 0.4)], rewardCents: 10_000, weights: DEFAULT_WEIGHTS, filters: {} });
    // price 1-2500/10000=0.75, performance 0.8, speed 100/100=1, reputation neutral 0.5 → mean 0.7625
    expect(first).toMatchObject({ bidId: 'a', rank: 1, factors: { price: 0.75, performance: 0.8, speed: 1, reputation: NEUTRAL_REPUTATION }, score: 0.7625 });
  });

  it.each([
    ['price', 'cheap'],
    ['speed', 'fast'],
    ['performance', 'sure'],
  ] as const)('a %s-only weighting picks %s', (k, winner) => {
    expect(rankBids({ bids, rewardCents: 10_000, weights: only(k), filters: {} })[0]?.bidId).toBe(winner);
  });

  it('uses real reputations when given', () => {
    const ranked = rankBids({ bids, rewardCents: 10_000, weights: only('reputation'), filters: {}, reputations: { 'agent-fast': 0.9 } });
    expect(ranked[0]).toMatchObject({ bidId: 'fast', factors: { reputation: 0.9 } });
  });

  it.each([
    [{ max_price_cents: 5_000 }, ['cheap']],
    [{ min_confidence: 0.9 }, ['sure']],
    [{ max_latency_seconds: 600 }, ['fast', 'sure']],
    [{ min_reputation: 0.6 }, []],
    [{ free_only: true }, []],
  ] as const)('filter %j leaves %j eligible, and says why the rest were excluded', (filters, eligible) => {
    const ranked = rankBids({ bids, rewardCents: 10_000, weights: DEFAULT_WEIGHTS, filters });
    expect(ranked.filter((r) => r.eligible).map((r) => r.bidId).sort()).toEqual([...eligible].sort());
    for (const r of ranked.filter((x) => !x.eligible)) {
      expect(r.excludedBy).toEqual([Object.keys(filters)[0]]);
      expect(r.rank).toBeNull();
    }
  });

  it('never ranks a bid above the reward', () => {
    expect(rankBids({ bids: [bid('x', 10_001, 1, 1)], rewardCents: 10_000, weights: DEFAULT_WEIGHTS, filters: {} })[0]).toMatchObject({ eligible: false, excludedBy: ['price_above_reward'] });
  });

  it('breaks ties by the earlier bid, so the same bids always give the same winner', () => {
    const late = bid('late', 1_000, 60, 0.5, '2026-01-01T00:00:02Z');
    const early = bid('early', 1_000, 60, 0.5, '2026-01-01T00:00:01Z');
    expect(rankBids({ bids: [late, early], rewardCents: 10_000, weights: DEFAULT_WEIGHTS, filters: {} }).map((r) => r.bidId)).toEqual(['early', 'late']);
  });

  it('scores every bid 1 on price for a free contract', () => {
    expect(rankBids({ bids: [bid('free', 0, 60, 1)], rewardCents: 0, weights: only('price'), filters: {} })[0]?.score).toBe(1);
  });

  it('returns nothing eligible for no bids', () => {
    expect(rankBids({ bids: [], rewardCents: 100, weights: DEFAULT_WEIGHTS, filters: {} })).toEqual([]);
  });
});
