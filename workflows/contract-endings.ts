import * as wf from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { ContractOutcome } from '../domain/contract-types';
import { HermesAgentId, HermesStatus } from '../domain/search-attributes';
import type { ContractStatus, FailureReason } from '../domain/statuses';
import { nowIso } from './clock';
import { recomputeAgentTrust, recordAgentMetric, setContractStatus } from './contract-activities';
import type { ContractProcess } from './contract-process';
import type { EscrowSaga } from './escrow-saga';

// Status changes, and the ways a contract ends.

type StatusFields = Parameters<Activities['setContractStatus']>[2];

/** The workflow's one way to change the contract's status: its row, then its memory. */
export async function transition(c: ContractProcess, status: ContractStatus, fields: StatusFields = {}, agentId?: string): Promise<void> {
  c.decide(status);
  await setContractStatus(c.input.contractId, status, fields);
  // A delivery may have been stored while this write was being retried: it stays DELIVERED.
  if (status === 'IN_PROGRESS' && c.delivery) return;
  c.setStatus(status);
  // One upsert per transition (the awarded agent goes with AWARDED).
  wf.upsertSearchAttributes(agentId ? [{ key: HermesStatus, value: status }, { key: HermesAgentId, value: agentId }] : [{ key: HermesStatus, value: status }]);
}

export type AgentFailureReason = 'delivery_missed' | 'execution_failed' | 'rejected' | 'validation_failed';

/** The awarded agent failed; the caller may re-award before it becomes the contract's end. */
export interface AgentFailure {
  reason: AgentFailureReason;
  detail: string | null;
  actualSeconds?: number;
}

/** Ends the contract: money not settled goes back, the agent's own failure counts against it. */
export async function finish(
  c: ContractProcess,
  escrow: EscrowSaga,
  status: ContractStatus,
  failureReason: FailureReason | null,
  detail: string | null,
  actualSeconds?: number,
): Promise<ContractOutcome> {
  await escrow.release(failureReason ?? status.toLowerCase());
  if (c.award && (failureReason === 'delivery_missed' || failureReason === 'rejected' || failureReason === 'execution_failed' || failureReason === 'validation_failed')) {
    await countFailure(c, failureReason, actualSeconds);
  }
  const closedAt = nowIso();
  await transition(c, status, { failureReason, statusDetail: detail, closedAt });
  c.closed(status, failureReason, detail, closedAt);
  return { status, failureReason, statusDetail: detail };
}

/** Before a re-award: the failed agent's escrow goes back and the failure counts against it. */
export async function releaseAward(c: ContractProcess, escrow: EscrowSaga, failure: AgentFailure): Promise<void> {
  const award = c.award!;
  await escrow.release(failure.reason);
  await countFailure(c, failure.reason, failure.actualSeconds);
  c.reaward(award.agentId, `re-awarded after ${award.agentId} failed: ${failure.detail ?? failure.reason}`);
}

// An activity that refused its data or kept failing past its retry bound ends the contract
// FAILED with the reason and its escrow released, rather than leaving it stuck. (Anything
// else is a bug in this code: it fails the workflow task, to be fixed and replayed.)
export async function endAfterFault(c: ContractProcess, escrow: EscrowSaga, err: unknown): Promise<ContractOutcome> {
  if (!(err instanceof wf.ActivityFailure)) throw err;
  // Once settlement began, or the contract already chose its end, releasing money here could
  // pay twice: the workflow fails instead, where operators see it (an unused hold lapses).
  if (c.settling || c.isTerminal) throw err;
  const detail = `${err.activityType} failed: ${err.cause?.message ?? err.message}`;
  if (!c.persisted) {
    // The creating request hears why. A row written before a later step of the same
    // activity failed is marked too, so nothing is left open.
    c.creationFailed(err);
    if (!isDataRejected(err)) await setContractStatus(c.input.contractId, 'FAILED', { failureReason: 'system_error', statusDetail: detail, closedAt: nowIso() });
    return { status: 'FAILED', failureReason: 'system_error', statusDetail: detail };
  }
  return finish(c, escrow, 'FAILED', 'system_error', detail);
}

export const isDataRejected = (err: unknown): boolean =>
  err instanceof wf.ActivityFailure && err.cause instanceof wf.ApplicationFailure && err.cause.type === 'DATA_REJECTED';

// The awarded agent's failure goes on its record, and its trust score follows.
async function countFailure(c: ContractProcess, reason: AgentFailureReason, actualSeconds?: number): Promise<void> {
  const award = c.award!;
  await recordAgentMetric({
    agentId: award.agentId,
    contractId: c.input.contractId,
    outcome: 'failure',
    failureReason: reason,
    promisedEtaSeconds: award.etaSeconds,
    actualSeconds: actualSeconds ?? null,
    rating: c.review?.rating ?? null,
    priceCents: award.priceCents,
    ...executionFigures(c),
  });
  await recomputeAgentTrust(award.agentId);
}

export function executionFigures(c: ContractProcess): { executionMs?: number; fuelConsumed?: number } {
  if (!c.execution) return {};
  return { executionMs: Math.round(c.execution.durationMs), fuelConsumed: c.execution.fuelConsumed };
}
