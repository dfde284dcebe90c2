import { ApplicationFailure } from '@temporalio/activity';
import type { Knex } from 'knex';
import Stripe from 'stripe';
import type { PaymentView } from '../domain/contract-types';

export interface HoldEscrowInput {
  contractId: string;
  userId: string;
  agentId: string;
  amountCents: number;
  currency: string;
  /** Derived from the workflow id and the step, so a retried activity never charges twice. */
  idempotencyKey: string;
}

// Escrow is a PaymentIntent with manual capture: authorised at award, captured at settlement,
// cancelled (voided) on every failure exit. stripe-mock is stateless, so our `payments` row
// is the state of record; a Stripe call that succeeded is what moves it.
export function createEscrowActivities({
  knex,
  stripe,
  defaultPaymentMethod,
}: {
  knex: Knex;
  stripe: Stripe;
  defaultPaymentMethod: string;
}) {
  async function paymentByIntent(paymentIntentId: string) {
    const row = await knex('payments').where({ stripe_payment_intent_id: paymentIntentId }).first();
    if (!row) throw ApplicationFailure.nonRetryable(`no payment ${paymentIntentId}`, 'PAYMENT_NOT_FOUND');
    return row;
  }

  return {
    async holdEscrow(input: HoldEscrowInput): Promise<PaymentView> {
      const existing = await knex('payments').where({ idempotency_key: input.idempotencyKey }).first();
      if (existing) return toView(existing);
      let intent: Stripe.PaymentIntent;
      try {
        intent = await stripe.paymentIntents.create(
          {
            amount: input.amountCents,
            currency: input.currency,
            capture_method: 'manual',
            confirm: true,
            payment_method: defaultPaymentMethod,
            // Escrow is confirmed server-side: no redirect-based methods.
            automatic_payment_methods: { enabled: true, allow_redirects: 'never' },
            description: `Hermes escrow for contract ${input.contractId}`,
            metadata: { contract_id: input.contractId, agent_id: input.agentId, user_id: input.userId },
          },
          { idempotencyKey: input.idempotencyKey },
        );
      } catch (err) {
        if (err instanceof Stripe.errors.StripeCardError) {
          throw ApplicationFailure.nonRetryable(err.message, 'PAYMENT_DECLINED', { code: err.code });
        }
        if (err instanceof Stripe.errors.StripeInvalidRequestError) {
          throw ApplicationFailure.nonRetryable(err.message, 'PAYMENT_INVALID', { param: err.param });
        }
        throw err;
      }
      const status = intent.status === 'requires_action' ? 'requires_action' : 'authorized';
      const [row] = await knex('payments')
        .insert({
          contract_id: input.contractId,
          user_id: input.userId,
          agent_id: input.agentId,
          stripe_payment_intent_id: intent.id,
          idempotency_key: input.idempotencyKey,
          amount_cents: input.amountCents,
          currency: input.currency,
          status,
        })
        .onConflict('idempotency_key')
        .merge(['updated_at'])
        .returning('*');
      return toView(row);
    },

    async captureEscrow(input: { paymentIntentId: string; amountCents: number; idempotencyKey: string }): Promise<PaymentView> {
      const row = await paymentByIntent(input.paymentIntentId);
      if (row.status === 'captured') return toView(row);
      await stripe.paymentIntents.capture(
        input.paymentIntentId,
        { amount_to_capture: input.amountCents },
        { idempotencyKey: input.idempotencyKey },
      );
      const [updated] = await knex('payments')
        .where({ id: row.id })
        .update({ status: 'captured', captured_cents: input.amountCents })
        .returning('*');
      return toView(updated);
    },

    async voidEscrow(input: { paymentIntentId: string; idempotencyKey: string; reason: string }): Promise<PaymentView> {
      const row = await paymentByIntent(input.paymentIntentId);
      if (row.status === 'voided') return toView(row);
      await stripe.paymentIntents.cancel(
        input.paymentIntentId,
        { cancellation_reason: 'abandoned' },
        { idempotencyKey: input.idempotencyKey },
      );
      const [updated] = await knex('payments')
        .where({ id: row.id })
        .update({ status: 'voided', last_error: input.reason })
        .returning('*');
      return toView(updated);
    },
  };
}

function toView(row: { stripe_payment_intent_id: string; amount_cents: number; status: PaymentView['status'] }): PaymentView {
  return { paymentIntentId: row.stripe_payment_intent_id, amountCents: row.amount_cents, status: row.status };
}
