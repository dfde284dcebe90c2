import { workflowInfo } from '@temporalio/workflow';

// Workflow time: Date in workflow code is Temporal's deterministic clock.
export const nowIso = (): string => new Date().toISOString();
export const msUntil = (iso: string): number => Math.max(1, Date.parse(iso) - Date.now());
export const secondsFromNow = (s: number): string => new Date(Date.now() + s * 1000).toISOString();

// Idempotency keys for external calls: stable across activity retries and worker restarts.
// A re-awarded contract's later rounds get their own keys: a new hold is a new payment.
export function stepKey(step: string, round = 1): string {
  return `${workflowInfo().workflowId}/${step}${round > 1 ? `-r${round}` : ''}`;
}
