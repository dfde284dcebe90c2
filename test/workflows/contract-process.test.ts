import { describe, expect, it } from 'vitest';
import { ContractProcess } from '../../workflows/contract-process';
import { bid, contractInput } from '../support/builders';

// A review sent while a delivery's acceptance checks run (on the state class alone; the handler
// waits for `validating` to clear, then asks validateReview again).
describe('reviews and acceptance checks', () => {
  const at = '2026-12-01T00:00:00.000Z';
  const validation = (status: 'passed' | 'failed' | 'error') => ({ status, checks: [], report: null, validated_at: at });
  const automatic = (decision: 'accepted' | 'rejected') => ({ decision, rating: null, comment: null, reason: decision === 'rejected' ? 'failed its acceptance checks' : null, automatic: true, reviewedAt: at });

  function delivered() {
    const input = contractInput({ acceptance: { outputSchema: { type: 'object' }, onPass: 'settle', taskQueue: 'q' } });
    const p = new ContractProcess(input, Date.parse(at));
    const placed = p.applyBid(bid(), 'bid-1', at);
    p.awarded({ bidId: placed.bidId, agentId: placed.agentId, priceCents: placed.priceCents, etaSeconds: 600, mode: 'auto', score: null, ranking: [], awardedAt: at });
    p.deliveryTaken({ deliveryId: 'd-1', agentId: placed.agentId, bidId: placed.bidId, attempt: 1, output: {}, deliveredAt: at }, at);
    p.deliveryStored();
    return { p, owner: { userId: input.userId } };
  }

  it('lets a review in while the checks run, and shows them pending', () => {
    const { p, owner } = delivered();
    p.validationStarted();
    expect(p.validating).toBe(true);
    expect(() => p.validateReview(owner)).not.toThrow();
    expect(p.view().validation).toMatchObject({ status: 'pending' });
  });

  it('refuses a review after the checks rejected the delivery, or accepted it with on_pass settle, saying so', () => {
    const failed = delivered();
    failed.p.validationStarted();
    failed.p.validationConcluded(validation('failed'), automatic('rejected'), null);
    expect(failed.p.validating).toBe(false);
    expect(() => failed.p.validateReview(failed.owner)).toThrow('the delivery failed its acceptance checks and was rejected automatically');

    const passed = delivered();
    passed.p.validationStarted();
    passed.p.validationConcluded(validation('passed'), automatic('accepted'), null);
    expect(() => passed.p.validateReview(passed.owner)).toThrow('passed its acceptance checks and was accepted automatically');
  });

  it('leaves the review to the user when the checks could not decide, with the review window from then', () => {
    const { p, owner } = delivered();
    p.validationStarted();
    const later = '2030-01-01T00:00:00.000Z';
    p.validationConcluded(validation('error'), null, later);
    expect(() => p.validateReview(owner)).not.toThrow();
    expect(p.view().validation).toMatchObject({ status: 'error' });
    expect(p.reviewDeadline).toBe(later);
  });

  it('counts the checks as pending from the moment the delivery is taken, before they start', () => {
    const { p } = delivered();
    expect(p.validating).toBe(true);
    expect(p.view().validation).toMatchObject({ status: 'pending' });
  });
});
