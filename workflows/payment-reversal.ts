import * as wf from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { PaymentReversal } from '../activities/payment-reversals';

// One Stripe-reported refund or dispute (workflow id `payment-reversal-<event id>`, so a
// redelivered webhook starts nothing new): apply it to the ledger, retrying until it lands.
const db = wf.proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

export async function paymentReversalWorkflow(reversal: PaymentReversal): Promise<string> {
  return db.applyPaymentReversal(reversal);
}
