import * as wf from '@temporalio/workflow';
import type { Activities } from '../activities';
import { LEDGER_FOLLOW_UP } from './activity-options';

// One withdrawal (workflow id `withdrawal-<id>`): the funds are already reserved in the ledger
// by the API; this makes the Connect transfers, retrying network faults for up to a day.
const stripe = wf.proxyActivities<Activities>(LEDGER_FOLLOW_UP);

export async function withdrawalWorkflow(withdrawalId: string): Promise<'paid' | 'failed'> {
  return stripe.payoutWithdrawal(withdrawalId);
}
