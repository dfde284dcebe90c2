import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { DB_WRITE, PAYMENT } from './activity-options';

// The contract workflow's activities, grouped by retry policy (see activity-options.ts).

export const {
  persistContract,
  recordAward,
  recordDelivery,
  recordReview,
  recordValidation,
  setContractStatus,
  loadReputations,
  recordAgentMetric,
} = proxyActivities<Activities>(DB_WRITE);

// settleContract captures the hold at Stripe first, so it is retried as a payment call.
export const { holdEscrow, confirmEscrow, failEscrow, captureEscrow, voidEscrow, refundEscrow, settleContract } = proxyActivities<Activities>(PAYMENT);
