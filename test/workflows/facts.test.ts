import { WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { afterEach, describe, expect, it } from 'vitest';
import type { Activities } from '../../activities';
import type { ContractInput } from '../../domain/contract-types';
import { contractWorkflow } from '../../workflows/contract';
import { accept, cancel, closeBidding, deliver, getState, paymentEvent, submitBid } from '../../workflows/contract-messages';
import { bid, contractInput } from '../support/builders';
import { executionReport } from '../support/execution-report';
import { eventually } from '../support/eventually';
import { startWorker, useRecordedWorkflowEnv, waitForStatus } from '../support/temporal-env';
import { metricsWritten } from '../support/recorded-activities';

// Validators decide on what the workflow holds, not on a status the main loop writes later.
// Each test is a regression for an answer a client was given that was not true.
const taskQueue = 'contract-facts-test';
const t = useRecordedWorkflowEnv(taskQueue);
afterEach(() => Object.assign(t.recorder, { gates: {}, executionPlan: null, captureBy: null }));

const callsFor = (name: keyof Activities, contractId: string) =>
  t.recorder.calls.filter((c) => c.name === name && JSON.stringify(c.args).includes(contractId)).map((c) => c.args);
const paymentCalls = (name: keyof Activities, since: number) => t.recorder.calls.slice(since).filter((c) => c.name === name);

async function inProgress(overrides: Partial<ContractInput> = {}) {
  const input = contractInput(overrides);
  const handle = await t.env.client.workflow.start(contractWorkflow, { taskQueue, workflowId: `contract-${input.contractId}`, args: [input] });
  const winner = bid({ priceCents: 2_000 });
  await handle.executeUpdate(submitBid, { args: [winner] });
  await handle.executeUpdate(closeBidding, { args: [{ userId: input.userId }] });
  await waitForStatus(handle, 'IN_PROGRESS');
  return { input, handle, winner };
}

async function refusal(p: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await p.then(() => expect.unreachable('the update was accepted'), (e: unknown) => e);
  expect(err).toBeInstanceOf(WorkflowUpdateFailedError);
  return (err as WorkflowUpdateFailedError).cause as ApplicationFailure;
}

function gate(): { open: () => void; closed: Promise<void> } {
  let open!: () => void;
  const closed = new Promise<void>((resolve) => (open = resolve));
  return { open, closed };
}

describe('validators on facts', () => {
  it('accepts a review sent once the delivery row is written, before the workflow heard back', async () => {
    const { input, handle, winner } = await inProgress();
    const write = gate();
    t.recorder.gates.recordDelivery = write.closed;
    const delivered = handle.executeUpdate(deliver, { args: [{ agentId: winner.agentId, output: 'done' }] });
    // The row says DELIVERED (recordDelivery ran); the activity's answer is still on its way.
    await eventually(() => expect(callsFor('recordDelivery', input.contractId)).toHaveLength(1));
    const accepted = handle.executeUpdate(accept, { args: [{ userId: input.userId, rating: 5 }] });
    write.open();
    await delivered;
    expect((await accepted).review).toMatchObject({ decision: 'accepted', rating: 5 });
    expect(await handle.result()).toMatchObject({ status: 'SETTLED' });
  });

  it('refuses a cancel once the agent has delivered, even before the workflow heard the row was written', async () => {
    const { input, handle, winner } = await inProgress();
    const write = gate();
    t.recorder.gates.recordDelivery = write.closed;
    const delivered = handle.executeUpdate(deliver, { args: [{ agentId: winner.agentId, output: 'done' }] });
    await eventually(() => expect(callsFor('recordDelivery', input.contractId)).toHaveLength(1));
    const refused = await refusal(handle.executeUpdate(cancel, { args: [{ userId: input.userId }] }));
    expect(refused.type).toBe('INVALID_STATE');
    expect(refused.message).toMatch(/has delivered/);
    write.open();
    await delivered;
    await handle.executeUpdate(accept, { args: [{ userId: input.userId, rating: 4 }] });
    expect(await handle.result()).toMatchObject({ status: 'SETTLED' });
  });

  it('refuses a late delivery once the contract is written FAILED, before the workflow heard back', async () => {
    const { input, handle, winner } = await inProgress({ deliveryWindowSeconds: 60 });
    const write = gate();
    t.recorder.gates.setContractStatus = write.closed;
    const failed = () => callsFor('setContractStatus', input.contractId).filter((args) => args[1] === 'FAILED');
    const outcome = handle.result(); // skips time past the delivery deadline
    await eventually(() => expect(failed()).toHaveLength(1));
    const refused = await refusal(handle.executeUpdate(deliver, { args: [{ agentId: winner.agentId, output: 'late' }] }));
    expect(refused.type).toBe('INVALID_STATE');
    write.open();
    expect(await outcome).toMatchObject({ status: 'FAILED', failureReason: 'delivery_missed' });
    expect(callsFor('recordDelivery', input.contractId)).toHaveLength(0);
  });

  it('stays DELIVERED when a retried IN_PROGRESS write lands after the delivery', async () => {
    const input = contractInput();
    const handle = await t.env.client.workflow.start(contractWorkflow, { taskQueue, workflowId: `contract-${input.contractId}`, args: [input] });
    // Free, so no escrow hold writes IN_PROGRESS with itself: setContractStatus does, and it is
    // the write gated (its row written, its answer held back).
    const winner = bid({ priceCents: 0 });
    await handle.executeUpdate(submitBid, { args: [winner] });
    const write = gate();
    t.recorder.gates = { setContractStatus: write.closed };
    await handle.executeUpdate(closeBidding, { args: [{ userId: input.userId }] });
    await eventually(() => expect(callsFor('setContractStatus', input.contractId).some((args) => args[1] === 'IN_PROGRESS')).toBe(true));
    t.recorder.gates = {};
    await handle.executeUpdate(deliver, { args: [{ agentId: winner.agentId, output: 'done' }] });
    write.open();
    await eventually(async () => expect((await handle.query(getState)).deliveryDeadline).not.toBeNull());
    expect((await handle.query(getState)).status).toBe('DELIVERED');
    await handle.executeUpdate(accept, { args: [{ userId: input.userId, rating: 5 }] });
    expect(await handle.result()).toMatchObject({ status: 'SETTLED' });
  });

  it('refuses a manual delivery from an agent whose binary runs in the sandbox; the run delivers', async () => {
    const run = gate();
    const sandboxQueue = 'facts-sandbox';
    const stopSandbox = await startWorker(t.env, sandboxQueue, {
      async executeAgent() {
        await run.closed;
        return executionReport({ taskResultId: 'tr-1', attempt: 1, outcome: 'ok', exitCode: 0, stdout: '{"words":3}', durationMs: 1, fuelConsumed: 10, message: null });
      },
    });
    try {
      t.recorder.executionPlan = { agentId: 'any', binaryHash: 'x', binaryUrl: 's3://none', timeoutMs: 60_000, taskQueue: sandboxQueue };
      // While the award and its plan are being written, the agent cannot slip a delivery in by hand.
      const planning = gate();
      t.recorder.gates.recordAward = planning.closed;
      const input = contractInput();
      const handle = await t.env.client.workflow.start(contractWorkflow, { taskQueue, workflowId: `contract-${input.contractId}`, args: [input] });
      const winner = bid({ priceCents: 2_000 });
      await handle.executeUpdate(submitBid, { args: [winner] });
      await handle.executeUpdate(closeBidding, { args: [{ userId: input.userId }] });
      await eventually(() => expect(callsFor('recordAward', input.contractId)).toHaveLength(1));
      // Taken while the plan is unknown, it waits for the work to start; then it is refused.
      const early = refusal(handle.executeUpdate(deliver, { args: [{ agentId: winner.agentId, output: 'by hand' }] }));
      planning.open();
      expect((await early).message).toMatch(/sandbox/);
      await waitForStatus(handle, 'IN_PROGRESS');
      // And while the binary runs.
      const refused = await refusal(handle.executeUpdate(deliver, { args: [{ agentId: winner.agentId, output: 'by hand' }] }));
      expect(refused.type).toBe('INVALID_STATE');
      expect(refused.message).toMatch(/sandbox/);
      expect(callsFor('recordDelivery', input.contractId)).toHaveLength(0);
      run.open();
      const state = await waitForStatus(handle, 'DELIVERED');
      expect(state.delivery).toMatchObject({ source: 'sandbox', output: { words: 3 } });
      await handle.executeUpdate(accept, { args: [{ userId: input.userId, rating: 5 }] });
      expect(await handle.result()).toMatchObject({ status: 'SETTLED' });
    } finally {
      await stopSandbox();
    }
  });
});

describe('money taken back at Stripe while the contract runs', () => {
  it('ends a disputed early capture FAILED without a refund, and no agent is blamed', async () => {
    t.recorder.captureBy = new Date((await t.env.currentTimeMs()) + 3600_000).toISOString();
    const since = t.recorder.calls.length;
    const { input, handle } = await inProgress({ deliveryWindowSeconds: 3 * 24 * 3600 });
    await t.env.sleep('2 hours');
    expect(paymentCalls('captureEscrow', since)).toHaveLength(1);
    await handle.signal(paymentEvent, { kind: 'disputed', paymentIntentId: 'pi_recorded', eventId: 'evt_dispute' });
    expect(await handle.result()).toMatchObject({ status: 'FAILED', failureReason: 'payment_failed', statusDetail: 'the payment was disputed at Stripe' });
    expect(paymentCalls('refundEscrow', since)).toHaveLength(0);
    expect(metricsWritten(t.recorder, input.contractId)).toHaveLength(0);
    expect((await handle.query(getState)).status).toBe('FAILED');
  });
});
