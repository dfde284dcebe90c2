import * as wf from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { AgentMetricInput } from '../activities/metrics';
import type { ContractOutcome } from '../domain/contract-types';
import { HermesAgentId, HermesStatus } from '../domain/search-attributes';
import type { ContractStatus, FailureReason } from '../domain/statuses';
import { nowIso } from './clock';
import { recordAgentMetric, setContractStatus } from './contract-activities';
import type { ContractProcess } from './contract-process';
import type { EscrowSaga } from './escrow-saga';

// Status changes, and the ways a contract ends.

type StatusFields = Parameters<Activities['setContractStatus']>[2];

/**
 * The workflow's one way to change the contract's status: `write` is the transition's one
 * activity (its row, and whatever the transition implies, in one transaction), then its memory
 * and one search-attribute upsert (the awarded agent goes with AWARDED).
 */
export async function moveTo<T>(c: ContractProcess, status: ContractStatus, write: () => Promise<T>, agentId?: string): Promise<T> {
  c.decide(status);
  const written = await write();
  // A delivery may have been stored while this write was being retried: it stays DELIVERED.
  if (status === 'IN_PROGRESS' && c.delivery) return written;
  c.setStatus(status);
  wf.upsertSearchAttributes(agentId ? [{ key: HermesStatus, value: status }, { key: HermesAgentId, value: agentId }] : [{ key: HermesStatus, value: status }]);
  return written;
}

/** A transition that writes only the status and its fields. */
export const transition = (c: ContractProcess, status: ContractStatus, fields: StatusFields = {}): Promise<void> =>
  moveTo(c, status, () => setContractStatus(c.input.contractId, status, fields));

export type AgentFailureReason = 'delivery_missed' | 'execution_failed' | 'rejected' | 'validation_failed';

/** The awarded agent failed; the caller may re-award before it becomes the contract's end. */
export interface AgentFailure {
  reason: AgentFailureReason;
  detail: string | null;
  actualSeconds?: number;
}

const AGENT_FAILURES: readonly AgentFailureReason[] = ['delivery_missed', 'rejected', 'execution_failed', 'validation_failed'];
const isAgentFailure = (r: FailureReason | null): r is AgentFailureReason => AGENT_FAILURES.includes(r as AgentFailureReason);

/**
 * Ends the contract: money not settled goes back, then one transaction closes it, with the
 * agent's own failure counted against it (its metric and trust score) where there is one.
 */
export async function finish(
  c: ContractProcess,
  escrow: EscrowSaga,
  status: ContractStatus,
  failureReason: FailureReason | null,
  detail: string | null,
  actualSeconds?: number,
): Promise<ContractOutcome> {
  await escrow.release(failureReason ?? status.toLowerCase());
  const metric = c.award && isAgentFailure(failureReason) ? failureMetric(c, failureReason, actualSeconds) : undefined;
  // Never awarded: the bids it took are written here, as an award would have (db/bids.ts) —
  // unless a fault ends it: the fault may be a bid Postgres refused, and the end must be written.
  const bids = c.award || failureReason === 'system_error' ? [] : [...c.bids.values()];
  const closedAt = nowIso();
  c.decide(status);
  await setContractStatus(c.input.contractId, status, { failureReason, statusDetail: detail, closedAt }, { metric, bids });
  return closedAs(c, status, failureReason, detail, closedAt);
}

/** The contract's end, once its row says so (finish, or the settlement's own transaction). */
export function closedAs(c: ContractProcess, status: ContractStatus, failureReason: FailureReason | null, detail: string | null, closedAt: string): ContractOutcome {
  c.closed(status, failureReason, detail, closedAt);
  wf.upsertSearchAttributes([{ key: HermesStatus, value: status }]);
  return { status, failureReason, statusDetail: detail };
}

/** Before a re-award: the failed agent's escrow goes back and the failure counts against it. */
export async function releaseAward(c: ContractProcess, escrow: EscrowSaga, failure: AgentFailure): Promise<void> {
  const award = c.award!;
  await escrow.release(failure.reason);
  // Its metric, and with it its trust score, in one transaction.
  await recordAgentMetric(failureMetric(c, failure.reason, failure.actualSeconds));
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

// The awarded agent's failure, as its record (and trust score) will count it.
function failureMetric(c: ContractProcess, reason: AgentFailureReason, actualSeconds?: number): AgentMetricInput {
  const award = c.award!;
  return {
    agentId: award.agentId,
    contractId: c.input.contractId,
    outcome: 'failure',
    failureReason: reason,
    promisedEtaSeconds: award.etaSeconds,
    actualSeconds: actualSeconds ?? null,
    rating: c.review?.rating ?? null,
    priceCents: award.priceCents,
    ...executionFigures(c),
  };
}

export function executionFigures(c: ContractProcess): { executionMs?: number; fuelConsumed?: number } {
  if (!c.execution) return {};
  return { executionMs: Math.round(c.execution.durationMs), fuelConsumed: c.execution.fuelConsumed };
}
