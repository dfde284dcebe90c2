import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Contract, Models } from '../db/models';
import { HttpError, notFound } from './errors';

export const workflowIdFor = (contractId: string) => `contract-${contractId}`;

// The workflow writes the contract row in its first activity, a few milliseconds after the
// API starts it. A caller that is faster than that waits briefly instead of getting a 404.
export async function findContract(deps: { models: Models; temporal: Client }, id: string): Promise<Contract> {
  const row = await deps.models.Contract.query().findById(id).whereNull('deleted_at');
  if (row) return row;
  try {
    await deps.temporal.workflow.getHandle(workflowIdFor(id)).describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw notFound('contract');
    throw err;
  }
  for (let i = 0; i < 100; i++) {
    await new Promise((r) => setTimeout(r, 50));
    const later = await deps.models.Contract.query().findById(id);
    if (later) return later;
  }
  throw new HttpError('UNAVAILABLE', 'the contract is still being created; retry shortly');
}

// Users see only their own contracts; a foreign one is indistinguishable from a missing one.
export async function findOwnedContract(deps: { models: Models; temporal: Client }, id: string, userId: string): Promise<Contract> {
  const contract = await findContract(deps, id);
  if (contract.user_id !== userId) throw notFound('contract');
  return contract;
}
