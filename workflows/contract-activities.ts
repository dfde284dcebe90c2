import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { DB_WRITE, PAYMENT } from './activity-options';

// The contract workflow's activities, grouped by retry policy (see activity-options.ts).

export const {
  persistContract,
  recordBid,
  recordAward,
  recordDelivery,
  recordReview,
  recordValidation,
  setContractStatus,
  loadReputations,
  recordAgentMetric,
  settleContract,
} = proxyActivities<Activities>(DB_WRITE);

export const { holdEscrow, confirmEscrow, failEscrow, captureEscrow, voidEscrow, refundEscrow } = proxyActivities<Activities>(PAYMENT);
