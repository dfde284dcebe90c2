import type { Contract, Models } from '../db/models';
import { notFound } from './errors';

export const workflowIdFor = (contractId: string) => `contract-${contractId}`;

// POST /contracts answers only after the workflow wrote the row (update-with-start), so a
// contract either has its row or does not exist.
export async function findContract(deps: { models: Models }, id: string): Promise<Contract> {
  const row = await deps.models.Contract.query().findById(id).whereNull('deleted_at');
  if (!row) throw notFound('contract');
  return row;
}

// Users see only their own contracts; a foreign one is indistinguishable from a missing one.
export async function findOwnedContract(deps: { models: Models }, id: string, userId: string): Promise<Contract> {
  const contract = await findContract(deps, id);
  if (contract.user_id !== userId) throw notFound('contract');
  return contract;
}
