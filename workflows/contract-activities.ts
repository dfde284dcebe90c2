import { proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { DB_WRITE, LOCAL_DB_WRITE, PAYMENT } from './activity-options';

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
  planExecution,
  recordAgentMetric,
  recomputeAgentTrust,
  settleContract,
} = proxyActivities<Activities>(DB_WRITE);

// The writes update handlers wait on before they answer (a bid, an agent's delivery, a user's
// review) run as local activities: in the workflow task that took the update, on the worker
// that runs it, so the caller's answer needs no further trips through the Temporal server (a
// scheduled activity is two more: its task, then a workflow task for its result). Their
// guarantees hold: each is one short transaction, idempotent on its natural key (a local
// activity runs again if its worker dies before the task completes), retried with DB_WRITE's
// bounds, and a refusal or an exhausted retry is the same ActivityFailure the handlers undo on.
export const handlerWrites = proxyLocalActivities<Pick<Activities, 'recordBid' | 'recordDelivery' | 'recordReview'>>(LOCAL_DB_WRITE);

export const { holdEscrow, confirmEscrow, failEscrow, captureEscrow, voidEscrow, refundEscrow } = proxyActivities<Activities>(PAYMENT);
