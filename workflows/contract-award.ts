import * as wf from '@temporalio/workflow';
import type { Award, BidView } from '../domain/contract-types';
import { rankBids } from '../domain/ranking';
import { msUntil, nowIso, secondsFromNow } from './clock';
import { loadReputations } from './contract-activities';
import type { ContractProcess } from './contract-process';

// Choosing who works: rank the bids by the owner's weights and each bidder's real trust
// score; auto mode takes the best eligible bid, manual mode waits (bounded) for the owner.

export async function chooseAward(c: ContractProcess): Promise<Award | null> {
  const { input } = c;
  const bids = [...c.bids.values()];
  if (bids.length === 0) {
    c.noteDetail('no bids were received');
    return null;
  }
  const reputations = await loadReputations([...new Set(bids.map((b) => b.agentId))]);
  const ranking = rankBids({ bids, rewardCents: input.rewardCents, weights: input.weights, filters: input.filters, reputations });

  if (input.awardMode === 'auto') {
    const winner = ranking[0];
    if (!winner?.eligible) {
      c.noteDetail('no bid passed the contract filters');
      return null;
    }
    return awardOf(bids.find((b) => b.bidId === winner.bidId)!, 'auto', winner.score, ranking);
  }

  if (c.manualAwardBidId === null) {
    const deadline = secondsFromNow(input.awardWindowSeconds);
    c.startAwardWindow(deadline);
    await wf.condition(() => c.manualAwardBidId !== null || c.cancelRequested, msUntil(deadline));
  }
  if (c.cancelRequested) return null;
  const bid = bids.find((b) => b.bidId === c.manualAwardBidId);
  if (!bid) {
    c.noteDetail('the owner did not award a bid in time');
    return null;
  }
  return awardOf(bid, 'manual', ranking.find((r) => r.bidId === bid.bidId)?.score ?? null, ranking);
}

/** The best-ranked eligible bid whose agent has not failed this contract yet. */
export function nextInRanking(c: ContractProcess): Award | null {
  const failed = new Set([...c.failedAgents, c.award?.agentId]);
  const ranking = c.award?.ranking ?? [];
  const next = ranking.find((r) => r.eligible && !failed.has(r.agentId));
  const bid = next && c.bids.get(next.agentId);
  return bid ? awardOf(bid, c.award!.mode, next.score, ranking) : null;
}

function awardOf(bid: BidView, mode: Award['mode'], score: number | null, ranking: Award['ranking']): Award {
  const { bidId, agentId, priceCents, etaSeconds } = bid;
  return { bidId, agentId, priceCents, etaSeconds, mode, score, ranking, awardedAt: nowIso() };
}
