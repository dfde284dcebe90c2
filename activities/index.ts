import type { Knex } from 'knex';
import type Stripe from 'stripe';
import type { Config } from '../lib/config';
import { createContractActivities } from './contracts';
import { createEscrowActivities } from './escrow';
import { createExecutionPlanActivities } from './execution-plans';
import { createMetricActivities } from './metrics';
import { createTaskActivities } from './tasks';

export interface ActivityDeps {
  knex: Knex;
  stripe: Stripe;
  config: Pick<
    Config,
    'STRIPE_DEFAULT_PAYMENT_METHOD' | 'SANDBOX_TASK_QUEUE' | 'SANDBOX_MIN_TIMEOUT_SECONDS' | 'SANDBOX_MAX_TIMEOUT_SECONDS'
  >;
}

// Everything the main worker registers (the sandbox worker has its own, see
// execute-agent.ts). Workflows import only the *type* of this.
export function createActivities({ knex, stripe, config }: ActivityDeps) {
  return {
    ...createContractActivities({ knex }),
    ...createEscrowActivities({ knex, stripe, defaultPaymentMethod: config.STRIPE_DEFAULT_PAYMENT_METHOD }),
    ...createMetricActivities({ knex }),
    ...createExecutionPlanActivities({ knex, config }),
    ...createTaskActivities({ knex }),
  };
}

export type Activities = ReturnType<typeof createActivities>;
