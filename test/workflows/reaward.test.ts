import { describe, expect, it } from 'vitest';
import type { Activities } from '../../activities';
import type { ContractInput } from '../../domain/contract-types';
import { contractWorkflow } from '../../workflows/contract';
import { accept, closeBidding, deliver, getState, reject, submitBid } from '../../workflows/contract-messages';
import { bid, contractInput } from '../support/builders';
import { eventually } from '../support/eventually';
import { useRecordedWorkflowEnv, waitForStatus } from '../support/temporal-env';
import { metricsWritten } from '../support/recorded-activities';

// Re-award: when the awarded agent fails, the next-ranked eligible bid takes over (bounded),
// the failure counts against the agent that failed, and the escrow follows the new price.
const taskQueue = 'reaward-workflow-test';
const t = useRecordedWorkflowEnv(taskQueue);

const calls = (name: keyof Activities, contractId: string) =>
  t.recorder.calls.filter((c) => c.name === name && JSON.stringify(c.args).includes(contractId)).map((c) => c.args[0] as Record<string, unknown>);

async function threeBids(overrides: Partial<ContractInput>) {
  const input = contractInput({ deliveryWindowSeconds: 3600, ...overrides });
  const handle = await t.env.client.workflow.start(contractWorkflow, { taskQueue, workflowId: `contract-${input.contractId}`, args: [input] });
  const best = bid({ priceCents: 2_000, confidence: 0.9 });
  const second = bid({ priceCents: 3_000, confidence: 0.9 });
  const third = bid({ priceCents: 4_000, confidence: 0.9 });
  for (const b of [best, second, third]) await handle.executeUpdate(submitBid, { args: [b] });
  await handle.executeUpdate(closeBidding, { args: [{ userId: input.userId }] });
  return { input, handle, best, second, third };
}

describe('re-award', () => {
  it('passes a missed delivery to the next-ranked bid, which settles at its own price', async () => {
    const { input, handle, best, second } = await threeBids({ maxReawards: 2 });
    await waitForStatus(handle, 'IN_PROGRESS');
    // The best bidder never delivers: an hour passes.
    await t.env.sleep('61 minutes');
    const state = await eventually(async () => {
      const s = await handle.query(getState);
      expect([s.status, s.award?.agentId]).toEqual(['IN_PROGRESS', second.agentId]);
      return s;
    });
    expect(state.award).toMatchObject({ agentId: second.agentId, priceCents: 3_000 });
    await handle.executeUpdate(deliver, { args: [{ agentId: second.agentId, output: 'second time lucky' }] });
    const delivered = await waitForStatus(handle, 'DELIVERED');
    expect(delivered.delivery).toMatchObject({ attempt: 2, agentId: second.agentId });
    await handle.executeUpdate(accept, { args: [{ userId: input.userId, rating: 4 }] });
    expect(await handle.result()).toMatchObject({ status: 'SETTLED' });

    const key = `contract-${input.contractId}`;
    expect(calls('holdEscrow', input.contractId)).toEqual([
      expect.objectContaining({ agentId: best.agentId, amountCents: 2_000, idempotencyKey: `${key}/escrow-hold` }),
      expect.objectContaining({ agentId: second.agentId, amountCents: 3_000, idempotencyKey: `${key}/escrow-hold-r2` }),
    ]);
    expect(calls('voidEscrow', input.contractId)).toEqual([expect.objectContaining({ idempotencyKey: `${key}/escrow-void`, reason: 'delivery_missed' })]);
    expect(metricsWritten(t.recorder, input.contractId).map((m) => [m.agentId, m.outcome, m.failureReason])).toEqual([
      [best.agentId, 'failure', 'delivery_missed'],
      [second.agentId, 'success', null],
    ]);
    expect(calls('settleContract', input.contractId)).toEqual([
      expect.objectContaining({ agentId: second.agentId, priceCents: 3_000, idempotencyKey: `${key}/settlement-r2` }),
    ]);
    // The failure's metric (and with it the trust score) is written by its own activity before the re-award.
    expect(calls('recordAgentMetric', input.contractId)[0]).toMatchObject({ agentId: best.agentId, outcome: 'failure' });
  });

  it('re-awards after a rejection, and fails once the re-awards are used up', async () => {
    const { input, handle, best, second, third } = await threeBids({ maxReawards: 1 });
    await waitForStatus(handle, 'IN_PROGRESS');
    await handle.executeUpdate(deliver, { args: [{ agentId: best.agentId, output: 'meh' }] });
    await waitForStatus(handle, 'DELIVERED');
    await handle.executeUpdate(reject, { args: [{ userId: input.userId, reason: 'wrong language' }] });
    const reawarded = await waitForStatus(handle, 'IN_PROGRESS');
    expect(reawarded.award?.agentId).toBe(second.agentId);
    expect(reawarded.review).toBeNull();
    await handle.executeUpdate(deliver, { args: [{ agentId: second.agentId, output: 'also meh' }] });
    await waitForStatus(handle, 'DELIVERED');
    await handle.executeUpdate(reject, { args: [{ userId: input.userId, reason: 'still wrong' }] });
    expect(await handle.result()).toMatchObject({ status: 'FAILED', failureReason: 'rejected', statusDetail: 'still wrong' });
    // The third bid was never tried: one re-award only.
    expect(calls('holdEscrow', input.contractId).map((h) => h.agentId)).toEqual([best.agentId, second.agentId]);
    expect(calls('holdEscrow', input.contractId).map((h) => h.agentId)).not.toContain(third.agentId);
    expect(metricsWritten(t.recorder, input.contractId).map((m) => [m.agentId, m.failureReason])).toEqual([
      [best.agentId, 'rejected'],
      [second.agentId, 'rejected'],
    ]);
  });

  it('does not re-award when the contract allows none', async () => {
    const { handle } = await threeBids({ maxReawards: 0 });
    expect(await handle.result()).toMatchObject({ status: 'FAILED', failureReason: 'delivery_missed' });
  });
});
