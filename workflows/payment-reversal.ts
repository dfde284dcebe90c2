import * as wf from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { PaymentReversal } from '../activities/payment-reversals';
import { LEDGER_FOLLOW_UP } from './activity-options';

// One Stripe-reported refund or dispute (workflow id `payment-reversal-<event id>`, so a
// redelivered webhook starts nothing new): apply it to the ledger, retrying for up to a day.
const db = wf.proxyActivities<Activities>(LEDGER_FOLLOW_UP);

export async function paymentReversalWorkflow(reversal: PaymentReversal): Promise<string> {
  return db.applyPaymentReversal(reversal);
}
