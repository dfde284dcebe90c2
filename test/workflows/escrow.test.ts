import { afterEach, describe, expect, it } from 'vitest';
import type { Activities } from '../../activities';
import type { ContractInput } from '../../domain/contract-types';
import { contractWorkflow } from '../../workflows/contract';
import { accept, cancel, closeBidding, deliver, paymentEvent, reject, submitBid } from '../../workflows/contract-messages';
import { bid, contractInput } from '../support/builders';
import { eventually } from '../support/eventually';
import { useRecordedWorkflowEnv, waitForStatus } from '../support/temporal-env';

// The escrow's timing on the time-skipping server: a payment that needs the customer's
// action, and a contract that outlives its card hold.
const taskQueue = 'escrow-workflow-test';
const t = useRecordedWorkflowEnv(taskQueue);
afterEach(() => Object.assign(t.recorder, { holdStatus: 'authorized', captureBy: null, actionDeadline: null }));

// Relative to the test server's clock, which earlier tests have skipped ahead.
const hoursFromNow = async (h: number) => new Date((await t.env.currentTimeMs()) + h * 3600_000).toISOString();
const names = (contractId: string) =>
  t.recorder.calls.filter((c) => JSON.stringify(c.args).includes(contractId) || c.args[0] === 'pi_recorded').map((c) => c.name);
const callsFor = (name: keyof Activities) => t.recorder.calls.filter((c) => c.name === name).map((c) => c.args);

async function awarded(overrides: Partial<ContractInput> = {}) {
  const input = contractInput(overrides);
  const handle = await t.env.client.workflow.start(contractWorkflow, { taskQueue, workflowId: `contract-${input.contractId}`, args: [input] });
  const winner = bid({ priceCents: 2_000, etaSeconds: 600 });
  await handle.executeUpdate(submitBid, { args: [winner] });
  await handle.executeUpdate(closeBidding, { args: [{ userId: input.userId }] });
  return { input, handle, winner };
}

describe('a payment that needs the customer (requires_action)', () => {
  it('goes ahead once Stripe says it succeeded', async () => {
    t.recorder.holdStatus = 'requires_action';
    t.recorder.actionDeadline = await hoursFromNow(1);
    const { input, handle } = await awarded();
    await waitForStatus(handle, 'AWARDED');
    await handle.signal(paymentEvent, { kind: 'succeeded', paymentIntentId: 'pi_recorded', eventId: 'evt_1' });
    await waitForStatus(handle, 'IN_PROGRESS');
    expect((await handle.query('getState')) as { payment: { status: string } }).toMatchObject({ payment: { status: 'authorized' } });
    expect(callsFor('confirmEscrow').at(-1)).toEqual(['pi_recorded']);
    // A cancel now voids the confirmed hold.
    await handle.executeUpdate(cancel, { args: [{ userId: input.userId }] });
    expect(await handle.result()).toMatchObject({ status: 'CANCELLED' });
    expect(callsFor('voidEscrow').at(-1)?.[0]).toMatchObject({ idempotencyKey: `contract-${input.contractId}/escrow-void` });
  });

  it('fails the contract when the action never comes, without a void', async () => {
    t.recorder.holdStatus = 'requires_action';
    t.recorder.actionDeadline = await hoursFromNow(1);
    const before = callsFor('voidEscrow').length;
    const { handle } = await awarded();
    const outcome = await handle.result();
    expect(outcome).toMatchObject({ status: 'FAILED', failureReason: 'payment_failed' });
    expect(outcome.statusDetail).toMatch(/did not come in time/);
    expect(callsFor('failEscrow').length).toBeGreaterThan(0);
    expect(callsFor('voidEscrow').length).toBe(before);
  });

  it('fails the contract when Stripe reports the payment failed', async () => {
    t.recorder.holdStatus = 'requires_action';
    t.recorder.actionDeadline = await hoursFromNow(1);
    const { handle } = await awarded();
    await waitForStatus(handle, 'AWARDED');
    await handle.signal(paymentEvent, { kind: 'failed', paymentIntentId: 'pi_recorded', eventId: 'evt_2' });
    expect(await handle.result()).toMatchObject({ status: 'FAILED', failureReason: 'payment_failed', statusDetail: 'the payment failed at Stripe' });
  });
});

describe('a contract that outlives its card hold', () => {
  it('captures before the hold lapses, then refunds (not voids) when the delivery is rejected', async () => {
    t.recorder.captureBy = await hoursFromNow(1);
    const { input, handle, winner } = await awarded({ deliveryWindowSeconds: 3 * 24 * 3600 });
    await waitForStatus(handle, 'IN_PROGRESS');
    const captures = callsFor('captureEscrow').length;
    await t.env.sleep('2 hours');
    expect(callsFor('captureEscrow').length).toBe(captures + 1);

    await handle.executeUpdate(deliver, { args: [{ agentId: winner.agentId, output: 'late but here' }] });
    await waitForStatus(handle, 'DELIVERED');
    const voids = callsFor('voidEscrow').length;
    await handle.executeUpdate(reject, { args: [{ userId: input.userId, reason: 'wrong' }] });
    expect(await handle.result()).toMatchObject({ status: 'FAILED', failureReason: 'rejected' });
    expect(callsFor('refundEscrow').at(-1)?.[0]).toMatchObject({ paymentIntentId: 'pi_recorded', idempotencyKey: `contract-${input.contractId}/escrow-refund` });
    expect(callsFor('voidEscrow').length).toBe(voids);
  });

  it('settles from the funds already held, capturing only once', async () => {
    t.recorder.captureBy = await hoursFromNow(1);
    const { input, handle, winner } = await awarded({ deliveryWindowSeconds: 3 * 24 * 3600 });
    await waitForStatus(handle, 'IN_PROGRESS');
    const captures = callsFor('captureEscrow').length;
    await t.env.sleep('2 hours');
    await handle.executeUpdate(deliver, { args: [{ agentId: winner.agentId, output: 'done' }] });
    await waitForStatus(handle, 'DELIVERED');
    await handle.executeUpdate(accept, { args: [{ userId: input.userId, rating: 4 }] });
    expect(await handle.result()).toMatchObject({ status: 'SETTLED' });
    expect(callsFor('captureEscrow').length).toBe(captures + 1);
    const settlement = callsFor('settleContract').at(-1)?.[0] as Record<string, unknown>;
    expect(settlement).toMatchObject({
      contractId: input.contractId,
      agentId: winner.agentId,
      priceCents: 2_000,
      idempotencyKey: `contract-${input.contractId}/settlement`,
    });
    // Held on the platform already: settlement captures nothing more.
    expect(settlement.capture).toBeUndefined();
    expect(names(input.contractId)).not.toContain('refundEscrow');
  });
});

describe('a hold that takes a while', () => {
  it('counts the delivery window from when the hold is in place, not from before it', async () => {
    let open!: () => void;
    t.recorder.gates.holdEscrow = new Promise<void>((resolve) => (open = resolve));
    try {
      const input = contractInput({ deliveryWindowSeconds: 600 });
      const handle = await t.env.client.workflow.start(contractWorkflow, { taskQueue, workflowId: `contract-${input.contractId}`, args: [input] });
      await handle.executeUpdate(submitBid, { args: [bid({ priceCents: 2_000 })] });
      await handle.executeUpdate(closeBidding, { args: [{ userId: input.userId }] });
      await eventually(() => expect(callsFor('holdEscrow').some(([h]) => (h as { contractId: string }).contractId === input.contractId)).toBe(true));
      // Stripe (or Postgres) retried for two minutes of the agent's ten.
      await t.env.sleep('2 minutes');
      const heldAt = await t.env.currentTimeMs();
      open();
      const state = await waitForStatus(handle, 'IN_PROGRESS');
      expect(Date.parse(state.deliveryDeadline!)).toBeGreaterThanOrEqual(heldAt + 600_000);
      // The row has the same deadline: written again, after the hold's own.
      const writes = callsFor('setContractStatus').filter(([id, status]) => id === input.contractId && status === 'IN_PROGRESS');
      expect(writes.at(-1)?.[2]).toMatchObject({ deliveryDeadline: state.deliveryDeadline });
      await handle.executeUpdate(cancel, { args: [{ userId: input.userId }] });
    } finally {
      delete t.recorder.gates.holdEscrow;
    }
  });
});
