import type { Knex } from 'knex';
import type Stripe from 'stripe';

/**
 * The user's Stripe customer, created on first need. The idempotency key makes concurrent or
 * retried first calls create one customer at Stripe; the first id stored wins here.
 */
export async function ensureCustomer(knex: Knex, stripe: Stripe, userId: string): Promise<string> {
  const user = await knex('users').where({ id: userId }).first('email', 'name', 'stripe_customer_id');
  if (!user) throw new Error(`no user ${userId}`);
  if (user.stripe_customer_id) return user.stripe_customer_id;
  const customer = await stripe.customers.create(
    { email: user.email, name: user.name, metadata: { hermes_user_id: userId } },
    { idempotencyKey: `user-${userId}/customer` },
  );
  await knex('users').where({ id: userId }).whereNull('stripe_customer_id').update({ stripe_customer_id: customer.id });
  const stored = await knex('users').where({ id: userId }).first('stripe_customer_id');
  return stored.stripe_customer_id;
}
