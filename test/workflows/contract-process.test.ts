import { describe, expect, it } from 'vitest';
import { ContractProcess } from '../../workflows/contract-process';
import { bid, contractInput } from '../support/builders';

// Taking back a bid whose write failed (the workflow's undo), on the state class alone.
describe('undoBid', () => {
  const at = '2026-12-01T00:00:00.000Z';

  it('withdraws a manual award of the bid it takes back', () => {
    const p = new ContractProcess(contractInput({ awardMode: 'manual' }), Date.parse(at));
    const req = bid();
    const placed = p.applyBid(req, 'bid-1', at);
    p.requestManualAward(placed.bidId);
    p.undoBid(placed, undefined);
    expect(p.bids.size).toBe(0);
    expect(p.manualAwardBidId).toBeNull();
  });

  it('restores the earlier revision, and leaves a newer bid of the same agent alone', () => {
    const p = new ContractProcess(contractInput(), Date.parse(at));
    const req = bid({ priceCents: 3_000 });
    const first = p.applyBid(req, 'bid-1', at);
    const second = p.applyBid({ ...req, priceCents: 2_000, replace: true }, 'unused', at);
    // The first write fails after the replacement arrived: the replacement stands.
    p.undoBid(first, undefined);
    expect(p.bids.get(req.agentId)).toBe(second);
    // The replacement's write fails: the first revision is the agent's bid again.
    p.undoBid(second, first);
    expect(p.bids.get(req.agentId)).toBe(first);
  });
});
