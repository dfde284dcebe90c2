import type { ActivityOptions } from '@temporalio/workflow';

// Retry policies by kind of work. Every one is bounded: an activity that keeps failing past
// its bound surfaces as an ActivityFailure the workflow ends on (FAILED, escrow released),
// never as a contract retrying forever. The bounds outlast a database or Stripe restart.
// Main-worker activities heartbeat while they run (workers/heartbeats.ts): a worker killed
// mid-activity is noticed after HEARTBEAT, and the activity retried on another, in seconds;
// retries back off to at most a few seconds, since a worker kill is an attempt lost, not a
// service that needs rest.
const HEARTBEAT = '5 seconds';

/** Postgres writes: seconds each; a data error (activities/data-errors.ts) is not retried. */
export const DB_WRITE: ActivityOptions = {
  startToCloseTimeout: '30 seconds',
  heartbeatTimeout: HEARTBEAT,
  scheduleToCloseTimeout: '10 minutes',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '5 seconds', nonRetryableErrorTypes: ['DATA_REJECTED'] },
};

/** Stripe calls that decide a contract's escrow. */
export const PAYMENT: ActivityOptions = {
  startToCloseTimeout: '60 seconds',
  heartbeatTimeout: HEARTBEAT,
  scheduleToCloseTimeout: '1 hour',
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '10 seconds',
    nonRetryableErrorTypes: ['PAYMENT_DECLINED', 'PAYMENT_INVALID', 'PAYMENT_NOT_FOUND', 'DATA_REJECTED'],
  },
};

/**
 * Money already moved at Stripe that the ledger must follow (refunds, disputes, payouts):
 * worth a day of retries; past that the workflow fails where operators see it.
 */
export const LEDGER_FOLLOW_UP: ActivityOptions = {
  startToCloseTimeout: '1 minute',
  heartbeatTimeout: HEARTBEAT,
  scheduleToCloseTimeout: '24 hours',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '5 minutes', nonRetryableErrorTypes: ['DATA_REJECTED'] },
};
