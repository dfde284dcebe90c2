import { BPS, type Weights } from './weights';

// Award ranking: pure and deterministic, so the contract workflow can call it directly.
//
// Each eligible bid gets four factors in [0, 1]:
//   price       1 - price / reward (a free contract scores every bid 1)
//   performance the bid's own confidence
//   speed       fastest eligible ETA / this bid's ETA
//   reputation  the agent's trust score (NEUTRAL_REPUTATION for agents without one yet)
// and score = Σ weight × factor with the user's weights. Ties go to the earlier bid, then
// the smaller agent id, so the same bids always produce the same winner.

export const NEUTRAL_REPUTATION = 0.5;

export interface AwardFilters {
  max_price_cents?: number;
  min_confidence?: number;
  max_latency_seconds?: number;
  min_reputation?: number;
  free_only?: boolean;
}

export interface RankableBid {
  bidId: string;
  agentId: string;
  priceCents: number;
  etaSeconds: number;
  confidence: number;
  submittedAt: string;
}

export interface ScoreBreakdown {
  price: number;
  performance: number;
  speed: number;
  reputation: number;
}

export interface RankedBid {
  bidId: string;
  agentId: string;
  priceCents: number;
  etaSeconds: number;
  eligible: boolean;
  excludedBy: (keyof AwardFilters | 'price_above_reward')[];
  factors: ScoreBreakdown | null;
  score: number | null;
  rank: number | null;
}

export interface RankingInput {
  bids: readonly RankableBid[];
  rewardCents: number;
  weights: Weights;
  filters: AwardFilters;
  reputations?: Readonly<Record<string, number>>;
}

const round6 = (x: number) => Math.round(x * 1e6) / 1e6;

export function excludedBy(bid: RankableBid, reward: number, filters: AwardFilters, reputation: number): RankedBid['excludedBy'] {
  const out: RankedBid['excludedBy'] = [];
  if (bid.priceCents > reward) out.push('price_above_reward');
  if (filters.max_price_cents !== undefined && bid.priceCents > filters.max_price_cents) out.push('max_price_cents');
  if (filters.min_confidence !== undefined && bid.confidence < filters.min_confidence) out.push('min_confidence');
  if (filters.max_latency_seconds !== undefined && bid.etaSeconds > filters.max_latency_seconds) out.push('max_latency_seconds');
  if (filters.min_reputation !== undefined && reputation < filters.min_reputation) out.push('min_reputation');
  if (filters.free_only && bid.priceCents !== 0) out.push('free_only');
  return out;
}

export function rankBids({ bids, rewardCents, weights, filters, reputations = {} }: RankingInput): RankedBid[] {
  const rep = (agentId: string) => reputations[agentId] ?? NEUTRAL_REPUTATION;
  const checked = bids.map((b) => ({ bid: b, excluded: excludedBy(b, rewardCents, filters, rep(b.agentId)) }));
  const eligible = checked.filter((c) => c.excluded.length === 0).map((c) => c.bid);
  const fastest = Math.min(...eligible.map((b) => b.etaSeconds));

  const scored = eligible.map((b) => {
    const factors: ScoreBreakdown = {
      price: round6(rewardCents > 0 ? 1 - b.priceCents / rewardCents : 1),
      performance: round6(b.confidence),
      speed: round6(fastest / b.etaSeconds),
      reputation: round6(rep(b.agentId)),
    };
    const score =
      (weights.price * factors.price +
        weights.performance * factors.performance +
        weights.speed * factors.speed +
        weights.reputation * factors.reputation) /
      BPS;
    return { b, factors, score: round6(score) };
  });
  scored.sort(
    (x, y) =>
      y.score - x.score ||
      x.b.submittedAt.localeCompare(y.b.submittedAt) ||
      x.b.agentId.localeCompare(y.b.agentId),
  );

  const ranked: RankedBid[] = scored.map(({ b, factors, score }, i) => ({
    bidId: b.bidId,
    agentId: b.agentId,
    priceCents: b.priceCents,
    etaSeconds: b.etaSeconds,
    eligible: true,
    excludedBy: [],
    factors,
    score,
    rank: i + 1,
  }));
  const excluded: RankedBid[] = checked
    .filter((c) => c.excluded.length > 0)
    .map(({ bid, excluded }) => ({
      bidId: bid.bidId,
      agentId: bid.agentId,
      priceCents: bid.priceCents,
      etaSeconds: bid.etaSeconds,
      eligible: false,
      excludedBy: excluded,
      factors: null,
      score: null,
      rank: null,
    }));
  return [...ranked, ...excluded];
}
