import type { Knex } from 'knex';
import type Stripe from 'stripe';
import type { Config } from '../lib/config';
import { createContractActivities } from './contracts';
import { createEscrowActivities } from './escrow';
import { createMetricActivities } from './metrics';

export interface ActivityDeps {
  knex: Knex;
  stripe: Stripe;
  config: Pick<Config, 'STRIPE_DEFAULT_PAYMENT_METHOD'>;
}

// Everything the main worker registers. Workflows import only the *type* of this.
export function createActivities({ knex, stripe, config }: ActivityDeps) {
  return {
    ...createContractActivities({ knex }),
    ...createEscrowActivities({ knex, stripe, defaultPaymentMethod: config.STRIPE_DEFAULT_PAYMENT_METHOD }),
    ...createMetricActivities({ knex }),
  };
}

export type Activities = ReturnType<typeof createActivities>;
