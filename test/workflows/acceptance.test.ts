import { WorkflowUpdateFailedError, WorkflowUpdateStage } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Activities } from '../../activities';
import type { OnPass, ValidateDeliveryRequest, Validation } from '../../domain/acceptance';
import { contractWorkflow } from '../../workflows/contract';
import { accept, closeBidding, deliver, getState, reject, submitBid } from '../../workflows/contract-messages';
import { bid, contractInput } from '../support/builders';
import { eventually } from '../support/eventually';
import { startWorker, useRecordedWorkflowEnv, waitForStatus } from '../support/temporal-env';
import { metricsWritten } from '../support/recorded-activities';

// The contract workflow and a delivery's acceptance checks: validateDelivery is held here until
// a test answers it, so a review can be sent while the checks run.
const taskQueue = 'acceptance-workflow-test';
const sandboxQueue = 'acceptance-workflow-sandbox';
const t = useRecordedWorkflowEnv(taskQueue);
const running = new Map<string, { pass: (v: Validation) => void; fail: (e: Error) => void }>();
let stopSandbox: (() => Promise<void>) | undefined;
beforeAll(async () => {
  stopSandbox = await startWorker(t.env, sandboxQueue, {
    validateDelivery: (req: ValidateDeliveryRequest) => new Promise<Validation>((pass, fail) => running.set(req.contractId, { pass, fail })),
  });
});
afterAll(async () => stopSandbox?.());

const validation = (status: Validation['status']): Validation => ({
  status,
  checks: [{ name: 'verifier', status, message: `the verifier said ${status}` }],
  report: `${status}\n`,
  validated_at: new Date().toISOString(),
});
const callsFor = (name: keyof Activities, contractId: string) =>
  t.recorder.calls.filter((c) => c.name === name && JSON.stringify(c.args).includes(contractId)).map((c) => c.args);

/** A contract with checks, its delivery in, its checks running (held). */
async function checking(onPass: OnPass) {
  const input = contractInput({ maxReawards: 0, acceptance: { outputSchema: { type: 'object' }, onPass, taskQueue: sandboxQueue } });
  const handle = await t.env.client.workflow.start(contractWorkflow, { taskQueue, workflowId: `contract-${input.contractId}`, args: [input] });
  const winner = bid({ priceCents: 2_000 });
  await handle.executeUpdate(submitBid, { args: [winner] });
  await handle.executeUpdate(closeBidding, { args: [{ userId: input.userId }] });
  await waitForStatus(handle, 'IN_PROGRESS');
  await handle.executeUpdate(deliver, { args: [{ agentId: winner.agentId, output: { summary: 'done' } }] });
  const checks = await eventually(async () => {
    const held = running.get(input.contractId);
    if (!held) throw new Error('validateDelivery has not started');
    return held;
  });
  expect((await handle.query(getState)).validation).toMatchObject({ status: 'pending' });
  return { input, handle, winner, checks };
}

async function refusal(p: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await p.then(() => expect.unreachable('the update was accepted'), (e: unknown) => e);
  expect(err).toBeInstanceOf(WorkflowUpdateFailedError);
  return (err as WorkflowUpdateFailedError).cause as ApplicationFailure;
}

describe('a review sent while the acceptance checks run', () => {
  it('waits for them, then applies (on_pass review, passed)', async () => {
    const { input, handle, checks } = await checking('review');
    // Admitted at once (the validator passed); its handler waits for the checks.
    const update = await handle.startUpdate(accept, { args: [{ userId: input.userId, rating: 4 }], waitForStage: WorkflowUpdateStage.ACCEPTED });
    expect((await handle.query(getState)).review).toBeNull();
    checks.pass(validation('passed'));
    const state = await update.result();
    expect(state.review).toMatchObject({ decision: 'accepted', rating: 4, automatic: false });
    expect(state.validation).toMatchObject({ status: 'passed' });
    expect(await handle.result()).toMatchObject({ status: 'SETTLED' });
    expect(callsFor('recordValidation', input.contractId)).toHaveLength(1);
    expect(metricsWritten(t.recorder, input.contractId)[0]).toMatchObject({ outcome: 'success', rating: 4 });
  });

  it('is refused (409) when the checks failed and rejected the delivery; the failure counts against the agent', async () => {
    const { input, handle, winner, checks } = await checking('review');
    const update = await handle.startUpdate(accept, { args: [{ userId: input.userId, rating: 5 }], waitForStage: WorkflowUpdateStage.ACCEPTED });
    checks.pass(validation('failed'));
    const refused = await refusal(update.result());
    expect(refused).toMatchObject({ type: 'INVALID_STATE', message: 'the delivery failed its acceptance checks and was rejected automatically' });
    expect(await handle.result()).toEqual({ status: 'FAILED', failureReason: 'validation_failed', statusDetail: 'failed its acceptance checks: verifier: the verifier said failed' });
    expect(callsFor('recordReview', input.contractId)[0]?.[2]).toMatchObject({ decision: 'rejected', automatic: true });
    expect(metricsWritten(t.recorder, input.contractId)[0]).toMatchObject({ agentId: winner.agentId, outcome: 'failure', failureReason: 'validation_failed' });
    expect(callsFor('voidEscrow', input.contractId)).toHaveLength(1);
  });

  it('is refused when the checks passed and on_pass settle accepted it', async () => {
    const { input, handle, checks } = await checking('settle');
    const update = await handle.startUpdate(reject, { args: [{ userId: input.userId, reason: 'changed my mind' }], waitForStage: WorkflowUpdateStage.ACCEPTED });
    checks.pass(validation('passed'));
    expect(await refusal(update.result())).toMatchObject({ type: 'INVALID_STATE', message: 'the delivery passed its acceptance checks and was accepted automatically (on_pass: settle)' });
    expect(await handle.result()).toMatchObject({ status: 'SETTLED' });
    expect(callsFor('recordReview', input.contractId)[0]?.[2]).toMatchObject({ decision: 'accepted', automatic: true, rating: null });
  });
});

describe('a review sent before the acceptance checks start', () => {
  it("waits for them too: the user's reject cannot be taken and then overwritten by the checks' accept", async () => {
    const input = contractInput({ maxReawards: 0, acceptance: { outputSchema: { type: 'object' }, onPass: 'settle', taskQueue: sandboxQueue } });
    const handle = await t.env.client.workflow.start(contractWorkflow, { taskQueue, workflowId: `contract-${input.contractId}`, args: [input] });
    const winner = bid({ priceCents: 2_000 });
    await handle.executeUpdate(submitBid, { args: [winner] });
    await handle.executeUpdate(closeBidding, { args: [{ userId: input.userId }] });
    await waitForStatus(handle, 'IN_PROGRESS');
    // The delivery's row is being written (held here): the checks have not started.
    let openWrite!: () => void;
    t.recorder.gates.recordDelivery = new Promise<void>((r) => (openWrite = r));
    const delivering = await handle.startUpdate(deliver, { args: [{ agentId: winner.agentId, output: { summary: 'done' } }], waitForStage: WorkflowUpdateStage.ACCEPTED });
    await eventually(async () => expect(callsFor('recordDelivery', input.contractId)).toHaveLength(1));
    expect(running.has(input.contractId)).toBe(false);
    expect((await handle.query(getState)).validation).toMatchObject({ status: 'pending' });
    const rejecting = await handle.startUpdate(reject, { args: [{ userId: input.userId, reason: 'too early' }], waitForStage: WorkflowUpdateStage.ACCEPTED });
    delete t.recorder.gates.recordDelivery;
    openWrite();
    await delivering.result();
    const checks = await eventually(async () => running.get(input.contractId) ?? expect.unreachable('validateDelivery has not started'));
    expect((await handle.query(getState)).review).toBeNull();
    checks.pass(validation('passed'));
    expect(await refusal(rejecting.result())).toMatchObject({ type: 'INVALID_STATE', message: 'the delivery passed its acceptance checks and was accepted automatically (on_pass: settle)' });
    expect(await handle.result()).toMatchObject({ status: 'SETTLED' });
    expect(callsFor('recordReview', input.contractId)).toEqual([[input.contractId, 1, expect.objectContaining({ decision: 'accepted', automatic: true })]]);
  });
});

describe('checks that leave the decision to the user', () => {
  it('start the review window when they conclude, not at the delivery', async () => {
    const { input, handle, checks } = await checking('review');
    const before = (await handle.query(getState)).reviewDeadline!;
    checks.pass(validation('passed'));
    const after = await eventually(async () => {
      const s = await handle.query(getState);
      expect(s.validation?.status).toBe('passed');
      return s.reviewDeadline!;
    });
    expect(Date.parse(after)).toBeGreaterThanOrEqual(Date.parse(before));
    expect(callsFor('recordValidation', input.contractId)[0]?.[3]).toBe(after);
    await handle.executeUpdate(accept, { args: [{ userId: input.userId, rating: 5 }] });
    expect(await handle.result()).toMatchObject({ status: 'SETTLED' });
  });
});

describe('checks that cannot decide', () => {
  it('are an error when the activity itself fails, and leave the review to the user', async () => {
    const { input, handle, checks } = await checking('settle');
    checks.fail(ApplicationFailure.nonRetryable('S3 is gone', 'TEST_FAULT'));
    const state = await eventually(async () => {
      const s = await handle.query(getState);
      expect(s.validation?.status).toBe('error');
      return s;
    });
    expect(state.status).toBe('DELIVERED');
    expect(state.validation).toMatchObject({ checks: [{ name: 'output_schema', status: 'error', message: 'the check could not be run: S3 is gone' }] });
    expect(callsFor('recordValidation', input.contractId)[0]?.[2]).toMatchObject({ status: 'error' });
    await handle.executeUpdate(accept, { args: [{ userId: input.userId, rating: 3 }] });
    expect(await handle.result()).toMatchObject({ status: 'SETTLED' });
    expect(metricsWritten(t.recorder, input.contractId)[0]).toMatchObject({ outcome: 'success' });
  });
});
