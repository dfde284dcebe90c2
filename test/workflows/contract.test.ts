import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import type { Activities } from '../../activities';
import type { ContractInput } from '../../domain/contract-types';
import { contractWorkflow } from '../../workflows/contract';
import { accept, award, cancel, closeBidding, deliver, getState, paymentEvent, reject, submitBid } from '../../workflows/contract-messages';
import { bid, contractInput } from '../support/builders';
import { eventually } from '../support/eventually';
import { useRecordedWorkflowEnv, waitForStatus } from '../support/temporal-env';
import { metricsWritten } from '../support/recorded-activities';

const taskQueue = 'contract-workflow-test';
const t = useRecordedWorkflowEnv(taskQueue);

async function start(overrides: Partial<ContractInput> = {}) {
  const input = contractInput(overrides);
  const handle = await t.env.client.workflow.start(contractWorkflow, {
    taskQueue,
    workflowId: `contract-${input.contractId}`,
    args: [input],
  });
  return { input, handle };
}

function callsFor(name: keyof Activities, contractId: string) {
  return t.recorder.calls.filter((c) => c.name === name && JSON.stringify(c.args).includes(contractId)).map((c) => c.args);
}

async function failureOf(p: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await p.then(
    () => expect.unreachable('the update was accepted'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WorkflowUpdateFailedError);
  const cause = (err as WorkflowUpdateFailedError).cause;
  expect(cause).toBeInstanceOf(ApplicationFailure);
  return cause as ApplicationFailure;
}

async function awardedToBestBid(handle: WorkflowHandle, input: ContractInput) {
  const cheap = bid({ priceCents: 2_000, etaSeconds: 600, confidence: 0.9 });
  const pricey = bid({ priceCents: 9_000, etaSeconds: 600, confidence: 0.9 });
  await handle.executeUpdate(submitBid, { args: [cheap] });
  await handle.executeUpdate(submitBid, { args: [pricey] });
  await handle.executeUpdate(closeBidding, { args: [{ userId: input.userId }] });
  await waitForStatus(handle, 'IN_PROGRESS');
  return { winner: cheap, loser: pricey };
}

describe('contract workflow', () => {
  it('settles: best bid wins, escrow is held then captured, the agent gets a success metric', async () => {
    const { input, handle } = await start();
    const { winner } = await awardedToBestBid(handle, input);

    const delivery = await handle.executeUpdate(deliver, { args: [{ agentId: winner.agentId, output: { summary: 'done' } }] });
    expect(delivery.output).toEqual({ summary: 'done' });
    await waitForStatus(handle, 'DELIVERED');
    await handle.executeUpdate(accept, { args: [{ userId: input.userId, rating: 5 }] });

    expect(await handle.result()).toEqual({ status: 'SETTLED', failureReason: null, statusDetail: null });
    const [hold] = callsFor('holdEscrow', input.contractId);
    expect(hold?.[0]).toMatchObject({ amountCents: 2_000, agentId: winner.agentId, idempotencyKey: `contract-${input.contractId}/escrow-hold` });
    // Settlement captures the hold in its own transaction.
    expect(callsFor('settleContract', input.contractId)[0]?.[0]).toMatchObject({
      priceCents: 2_000,
      capture: { paymentIntentId: 'pi_recorded', amountCents: 2_000, idempotencyKey: `contract-${input.contractId}/escrow-capture` },
    });
    expect(callsFor('captureEscrow', input.contractId)).toHaveLength(0);
    expect(callsFor('voidEscrow', input.contractId)).toHaveLength(0);
    expect(metricsWritten(t.recorder, input.contractId)[0]).toMatchObject({ outcome: 'success', rating: 5 });
  });

  it('explains the award: every bid ranked with its factors', async () => {
    const { input, handle } = await start({ weights: { price: 10_000, performance: 0, speed: 0, reputation: 0 } });
    await awardedToBestBid(handle, input);
    const state = await waitForStatus(handle, 'IN_PROGRESS');
    expect(state.award?.ranking.map((r) => r.rank)).toEqual([1, 2]);
    expect(state.award?.ranking[0]?.factors?.price).toBeCloseTo(0.8);
    expect(state.award?.score).toBeCloseTo(0.8);
    await handle.executeUpdate(cancel, { args: [{ userId: input.userId }] });
  });

  it('accepts in silence when the review window passes', async () => {
    const { input, handle } = await start();
    const { winner } = await awardedToBestBid(handle, input);
    await handle.executeUpdate(deliver, { args: [{ agentId: winner.agentId, output: 'result' }] });
    const outcome = await handle.result(); // time skips through the 72 h review window
    expect(outcome.status).toBe('SETTLED');
    expect(callsFor('recordReview', input.contractId)[0]?.[2]).toMatchObject({ decision: 'accepted', automatic: true });
  });

  it('expires when bidding closes with no bids, without touching money', async () => {
    const { input, handle } = await start();
    expect(await handle.result()).toEqual({ status: 'EXPIRED', failureReason: null, statusDetail: 'no bids were received' });
    expect(callsFor('holdEscrow', input.contractId)).toHaveLength(0);
  });

  it('expires when no bid passes the filters', async () => {
    const { handle } = await start({ filters: { min_confidence: 0.95, max_price_cents: 3_000 } });
    await handle.executeUpdate(submitBid, { args: [bid({ priceCents: 2_000, confidence: 0.5 })] });
    await handle.executeUpdate(submitBid, { args: [bid({ priceCents: 5_000, confidence: 0.99 })] });
    expect(await handle.result()).toMatchObject({ status: 'EXPIRED', statusDetail: 'no bid passed the contract filters' });
  });

  it('fails and voids the escrow when the agent misses the delivery deadline', async () => {
    const { input, handle } = await start();
    const { winner } = await awardedToBestBid(handle, input);
    expect(await handle.result()).toMatchObject({ status: 'FAILED', failureReason: 'delivery_missed' });
    expect(callsFor('voidEscrow', input.contractId)).toHaveLength(1);
    expect(metricsWritten(t.recorder, input.contractId)[0]).toMatchObject({ agentId: winner.agentId, outcome: 'failure', failureReason: 'delivery_missed' });
  });

  it('fails and voids the escrow when the owner rejects the delivery', async () => {
    const { input, handle } = await start();
    const { winner } = await awardedToBestBid(handle, input);
    await handle.executeUpdate(deliver, { args: [{ agentId: winner.agentId, output: 'meh' }] });
    await waitForStatus(handle, 'DELIVERED');
    await handle.executeUpdate(reject, { args: [{ userId: input.userId, reason: 'missed half the PDFs' }] });
    expect(await handle.result()).toEqual({ status: 'FAILED', failureReason: 'rejected', statusDetail: 'missed half the PDFs' });
    expect(callsFor('voidEscrow', input.contractId)).toHaveLength(1);
    expect(callsFor('captureEscrow', input.contractId)).toHaveLength(0);
    expect(callsFor('settleContract', input.contractId)).toHaveLength(0);
  });

  it('fails without escrow when the payment is declined', async () => {
    t.recorder.declineEscrow = true;
    try {
      const { input, handle } = await start();
      await handle.executeUpdate(submitBid, { args: [bid()] });
      await handle.executeUpdate(closeBidding, { args: [{ userId: input.userId }] });
      expect(await handle.result()).toMatchObject({ status: 'FAILED', failureReason: 'payment_failed' });
      expect(callsFor('voidEscrow', input.contractId)).toHaveLength(0);
    } finally {
      t.recorder.declineEscrow = false;
    }
  });

  it('cancels during bidding and after award, voiding a held escrow', async () => {
    const early = await start();
    await early.handle.executeUpdate(submitBid, { args: [bid()] });
    const view = await early.handle.executeUpdate(cancel, { args: [{ userId: early.input.userId, reason: 'changed my mind' }] });
    expect(view.status).toBe('CANCELLED');
    expect(await early.handle.result()).toMatchObject({ status: 'CANCELLED', statusDetail: 'changed my mind' });

    const late = await start();
    await awardedToBestBid(late.handle, late.input);
    expect((await late.handle.executeUpdate(cancel, { args: [{ userId: late.input.userId }] })).status).toBe('CANCELLED');
    expect(callsFor('voidEscrow', late.input.contractId)).toHaveLength(1);
  });

  it('refuses cancel after delivery', async () => {
    const { input, handle } = await start();
    const { winner } = await awardedToBestBid(handle, input);
    await handle.executeUpdate(deliver, { args: [{ agentId: winner.agentId, output: 'x' }] });
    await waitForStatus(handle, 'DELIVERED');
    const failure = await failureOf(handle.executeUpdate(cancel, { args: [{ userId: input.userId }] }));
    expect(failure.type).toBe('INVALID_STATE');
    await handle.executeUpdate(accept, { args: [{ userId: input.userId, rating: 4 }] });
    expect((await handle.result()).status).toBe('SETTLED');
  });

  it('answers bids at once: duplicate, replacement, price above reward, closed', async () => {
    const { input, handle } = await start({ rewardCents: 1_000 });
    const first = bid({ priceCents: 900 });
    const accepted = await handle.executeUpdate(submitBid, { args: [first] });
    expect(accepted.revision).toBe(1);

    expect((await failureOf(handle.executeUpdate(submitBid, { args: [first] }))).type).toBe('DUPLICATE_BID');
    const replaced = await handle.executeUpdate(submitBid, { args: [{ ...first, priceCents: 800, replace: true }] });
    expect(replaced).toMatchObject({ bidId: accepted.bidId, revision: 2, priceCents: 800 });

    const tooDear = await failureOf(handle.executeUpdate(submitBid, { args: [bid({ priceCents: 1_001 })] }));
    expect(tooDear.type).toBe('PRICE_ABOVE_REWARD');
    expect(tooDear.details).toEqual([{ field: 'price_cents' }]);
    expect((await failureOf(handle.executeUpdate(submitBid, { args: [bid({ confidence: 1.5 })] }))).type).toBe('VALIDATION_ERROR');

    await handle.executeUpdate(closeBidding, { args: [{ userId: input.userId }] });
    expect((await failureOf(handle.executeUpdate(submitBid, { args: [bid()] }))).type).toBe('BIDDING_CLOSED');
    await handle.executeUpdate(cancel, { args: [{ userId: input.userId }] });
  });

  it('checks who is calling: only the owner reviews, only the awarded agent delivers', async () => {
    const { input, handle } = await start();
    const { loser } = await awardedToBestBid(handle, input);
    expect((await failureOf(handle.executeUpdate(deliver, { args: [{ agentId: loser.agentId, output: 'x' }] }))).type).toBe('NOT_AWARDED_AGENT');
    expect((await failureOf(handle.executeUpdate(cancel, { args: [{ userId: 'someone-else' }] }))).type).toBe('FORBIDDEN');
    await handle.executeUpdate(cancel, { args: [{ userId: input.userId }] });
  });

  it('manual award: the owner picks a bid, or the contract expires when they never do', async () => {
    const picked = await start({ awardMode: 'manual' });
    const a = bid({ priceCents: 9_000 });
    const b = await picked.handle.executeUpdate(submitBid, { args: [bid({ priceCents: 1_000 })] });
    const chosen = await picked.handle.executeUpdate(submitBid, { args: [a] });
    const view = await picked.handle.executeUpdate(award, { args: [{ userId: picked.input.userId, bidId: chosen.bidId }] });
    expect(view.award).toMatchObject({ bidId: chosen.bidId, mode: 'manual', priceCents: 9_000 });
    expect(view.award?.bidId).not.toBe(b.bidId);
    await picked.handle.executeUpdate(cancel, { args: [{ userId: picked.input.userId }] });

    const ignored = await start({ awardMode: 'manual' });
    await ignored.handle.executeUpdate(submitBid, { args: [bid()] });
    expect(await ignored.handle.result()).toMatchObject({ status: 'EXPIRED', statusDetail: 'the owner did not award a bid in time' });
  });
});

describe('writes that fail', () => {
  const contractOf = (args: unknown[]) => JSON.stringify(args);

  it('refuses a delivery and a review Postgres will not store, takes each back, and settles', async () => {
    const { input, handle } = await start();
    const poisoned = new Set<string>();
    t.recorder.failWith = (name, args) => (poisoned.has(name) && contractOf(args).includes(input.contractId) ? 'data' : null);
    try {
      const first = bid({ priceCents: 3_000 });
      await handle.executeUpdate(submitBid, { args: [first] });
      await handle.executeUpdate(closeBidding, { args: [{ userId: input.userId }] });
      await waitForStatus(handle, 'IN_PROGRESS');

      poisoned.add('recordDelivery');
      expect((await failureOf(handle.executeUpdate(deliver, { args: [{ agentId: first.agentId, output: 'x' }] }))).type).toBe('VALIDATION_ERROR');
      expect((await handle.query(getState)).delivery).toBeNull();
      poisoned.delete('recordDelivery');
      await handle.executeUpdate(deliver, { args: [{ agentId: first.agentId, output: 'done' }] });
      await waitForStatus(handle, 'DELIVERED');

      poisoned.add('recordReview');
      expect((await failureOf(handle.executeUpdate(accept, { args: [{ userId: input.userId, rating: 4 }] }))).type).toBe('VALIDATION_ERROR');
      expect((await handle.query(getState)).review).toBeNull();
      poisoned.delete('recordReview');
      await handle.executeUpdate(accept, { args: [{ userId: input.userId, rating: 4 }] });
      expect(await handle.result()).toMatchObject({ status: 'SETTLED' });
    } finally {
      t.recorder.failWith = () => null;
    }
  });

  it('never releases money once settlement began, when the settlement gives up', async () => {
    const { input, handle } = await start();
    t.recorder.failWith = (name, args) => (name === 'settleContract' && (args[0] as { contractId: string }).contractId === input.contractId ? 'fault' : null);
    try {
      const { winner } = await awardedToBestBid(handle, input);
      await handle.executeUpdate(deliver, { args: [{ agentId: winner.agentId, output: 'done' }] });
      await waitForStatus(handle, 'DELIVERED');
      await handle.executeUpdate(accept, { args: [{ userId: input.userId, rating: 5 }] });
      // The workflow fails where operators see it; nothing is voided or refunded (the capture at
      // Stripe may have happened before the write gave up).
      await expect(handle.result()).rejects.toThrow();
      expect(callsFor('refundEscrow', input.contractId)).toHaveLength(0);
      expect(callsFor('voidEscrow', input.contractId)).toHaveLength(0);
    } finally {
      t.recorder.failWith = () => null;
    }
  });

  it('ends FAILED/system_error and voids the escrow when a step keeps failing past its retry bound', async () => {
    const { input, handle } = await start();
    t.recorder.failWith = (name, args) => (name === 'setContractStatus' && args[0] === input.contractId && args[1] === 'IN_PROGRESS' ? 'fault' : null);
    // The hold waits for the customer, so IN_PROGRESS is a write of its own after it (a hold in
    // place at once writes IN_PROGRESS with itself).
    t.recorder.holdStatus = 'requires_action';
    try {
      await handle.executeUpdate(submitBid, { args: [bid({ priceCents: 2_500 })] });
      await handle.executeUpdate(closeBidding, { args: [{ userId: input.userId }] });
      await eventually(() => expect(callsFor('holdEscrow', input.contractId)).toHaveLength(1));
      await handle.signal(paymentEvent, { kind: 'succeeded', paymentIntentId: 'pi_recorded', eventId: `evt_${input.contractId}` });
      const outcome = await handle.result();
      expect(outcome).toMatchObject({ status: 'FAILED', failureReason: 'system_error' });
      expect(outcome.statusDetail).toMatch(/setContractStatus/);
      expect(callsFor('voidEscrow', input.contractId)).toHaveLength(1);
      // No agent is blamed for Hermes' own fault.
      expect(metricsWritten(t.recorder, input.contractId)).toHaveLength(0);
    } finally {
      t.recorder.failWith = () => null;
      t.recorder.holdStatus = 'authorized';
    }
  });

  it('ends FAILED/system_error, and writes that end, when Postgres refuses the award with its bids', async () => {
    const { input, handle } = await start();
    t.recorder.failWith = (name, args) => (name === 'recordAward' && args[0] === input.contractId ? 'data' : null);
    try {
      await handle.executeUpdate(submitBid, { args: [bid({ priceCents: 2_500 })] });
      await handle.executeUpdate(closeBidding, { args: [{ userId: input.userId }] });
      expect(await handle.result()).toMatchObject({ status: 'FAILED', failureReason: 'system_error' });
      // The end is written without the bids that may be what Postgres refused.
      const ending = callsFor('setContractStatus', input.contractId).find((args) => args[1] === 'FAILED');
      expect(ending?.[3]).toMatchObject({ bids: [] });
    } finally {
      t.recorder.failWith = () => null;
    }
  });
});
