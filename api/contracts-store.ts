import type { Contract, Models } from '../db/models';
import { notFound } from './errors';
import type { ContractDetail } from './serializers';

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

/** The contract's bids, deliveries and sandbox runs, in order, with its row. */
export async function loadContractDetail(deps: { models: Models }, contract: Contract): Promise<ContractDetail> {
  const [bids, deliveries, executions] = await Promise.all([
    deps.models.Bid.query().where({ contract_id: contract.id }).orderBy('created_at'),
    deps.models.Delivery.query().where({ contract_id: contract.id }).orderBy('attempt'),
    deps.models.TaskResult.query().where({ contract_id: contract.id }).orderBy(['round', 'attempt']),
  ]);
  return { contract, bids, deliveries, executions };
}
