import type { Knex } from 'knex';
import type Stripe from 'stripe';
import type { Config } from '../lib/config';
import { activityMetrics, type ActivityMetrics } from '../lib/metrics';
import { Registry } from 'prom-client';
import { createContractActivities } from './contracts';
import { rejectingBadData } from './data-errors';
import { createEscrowActivities } from './escrow';
import { createMetricActivities } from './metrics';
import { createPaymentReversalActivities } from './payment-reversals';
import { createTaskActivities } from './tasks';
import { createTrustActivities } from './trust';
import { createValidationRecordActivities } from './validations';
import { createWithdrawalActivities } from './withdrawals';

export interface ActivityDeps {
  knex: Knex;
  stripe: Stripe;
  config: Pick<
    Config,
    | 'STRIPE_DEFAULT_PAYMENT_METHOD'
    | 'PLATFORM_FEE_BPS'
    | 'ESCROW_CAPTURE_AFTER_SECONDS'
    | 'ESCROW_ACTION_TIMEOUT_SECONDS'
    | 'SANDBOX_TASK_QUEUE'
    | 'SANDBOX_MIN_TIMEOUT_SECONDS'
    | 'SANDBOX_MAX_TIMEOUT_SECONDS'
  >;
  /** Where contracts and escrow operations are counted (the worker's /metrics); tests that do not read them get a registry of their own. */
  metrics?: ActivityMetrics;
}

// Everything the main worker registers (the sandbox worker has its own, see
// execute-agent.ts). Workflows import only the *type* of this.
export function createActivities({ knex, stripe, config, metrics = activityMetrics(new Registry()) }: ActivityDeps) {
  return rejectingBadData({
    ...createContractActivities({ knex, config, metrics: metrics.contracts }),
    ...createEscrowActivities({ knex, stripe, config, metrics }),
    ...createMetricActivities({ knex }),
    ...createTaskActivities({ knex }),
    ...createTrustActivities({ knex }),
    ...createValidationRecordActivities({ knex }),
    ...createPaymentReversalActivities({ knex }),
    ...createWithdrawalActivities({ knex, stripe }),
  });
}

export type Activities = ReturnType<typeof createActivities>;
