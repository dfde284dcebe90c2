import * as wf from '@temporalio/workflow';
import type { Activities } from '../activities';

// One withdrawal (workflow id `withdrawal-<id>`): the funds are already reserved in the ledger
// by the API; this makes the Connect transfers, retrying network faults until they land.
const stripe = wf.proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '5 minutes' },
});

export async function withdrawalWorkflow(withdrawalId: string): Promise<'paid' | 'failed'> {
  return stripe.payoutWithdrawal(withdrawalId);
}
