import Router from '@koa/router';
import { WorkflowNotFoundError } from '@temporalio/client';
import type Stripe from 'stripe';
import type { PaymentSignal } from '../../domain/contract-types';
import { paymentEvent } from '../../workflows/contract';
import { paymentReversalWorkflow } from '../../workflows/payment-reversal';
import type { ApiDeps } from '../deps';
import { HttpError } from '../errors';

// Which Stripe events matter, and what they mean for a contract's payment.
function signalOf(event: Stripe.Event): Omit<PaymentSignal, 'eventId'> | null {
  const object = event.data.object as { id?: string; payment_intent?: string | { id: string } | null };
  const intentOf = () => (typeof object.payment_intent === 'string' ? object.payment_intent : object.payment_intent?.id);
  switch (event.type) {
    case 'payment_intent.succeeded':
    case 'payment_intent.amount_capturable_updated':
      return { kind: 'succeeded', paymentIntentId: object.id! };
    case 'payment_intent.payment_failed':
      return { kind: 'failed', paymentIntentId: object.id! };
    case 'payment_intent.canceled':
      return { kind: 'canceled', paymentIntentId: object.id! };
    case 'charge.refunded': {
      const pi = intentOf();
      return pi ? { kind: 'refunded', paymentIntentId: pi } : null;
    }
    case 'charge.dispute.created': {
      const pi = intentOf();
      return pi ? { kind: 'disputed', paymentIntentId: pi } : null;
    }
    default:
      return null;
  }
}

// POST /webhooks/stripe: the signature is checked on the raw body (and its timestamp against
// STRIPE_WEBHOOK_TOLERANCE_SECONDS); each event id is processed once, a redelivery is
// acknowledged and ignored. An event we could not route answers 500, so Stripe retries it.
export function webhooksRouter({ knex, stripe, temporal, config, log }: ApiDeps): Router {
  const r = new Router({ prefix: '/webhooks' });

  r.post('/stripe', async (ctx) => {
    const signature = ctx.get('Stripe-Signature');
    if (!signature) throw new HttpError('INVALID_SIGNATURE', 'missing Stripe-Signature header', [{ field: 'Stripe-Signature' }]);
    const raw = (ctx.request as { rawBody?: string }).rawBody ?? '';
    let event: Stripe.Event;
    try {
      event = stripe.webhooks.constructEvent(raw, signature, config.STRIPE_WEBHOOK_SECRET, config.STRIPE_WEBHOOK_TOLERANCE_SECONDS);
    } catch (err) {
      throw new HttpError('INVALID_SIGNATURE', `webhook signature rejected: ${(err as Error).message}`, [{ field: 'Stripe-Signature' }]);
    }

    const duplicate = await knex.transaction(async (trx) => {
      await trx('stripe_events').insert({ id: event.id, type: event.type, payload: JSON.stringify(event) }).onConflict('id').ignore();
      const stored = await trx('stripe_events').where({ id: event.id }).forUpdate().first('processed_at');
      if (stored.processed_at) return true;
      await route(event);
      await trx('stripe_events').where({ id: event.id }).update({ processed_at: trx.fn.now() });
      return false;
    });
    ctx.body = { received: true, ...(duplicate && { duplicate: true }) };
  });

  async function route(event: Stripe.Event): Promise<void> {
    const signal = signalOf(event);
    if (!signal) return;
    const payment = await knex('payments').where({ stripe_payment_intent_id: signal.paymentIntentId }).first('contract_id');
    if (!payment) {
      log.warn({ eventId: event.id, type: event.type }, 'webhook for a payment Hermes does not know');
      return;
    }
    if (signal.kind === 'refunded' || signal.kind === 'disputed') {
      // The ledger side runs as its own workflow whether or not the contract is still open.
      await temporal.workflow
        .start(paymentReversalWorkflow, {
          taskQueue: config.TEMPORAL_TASK_QUEUE,
          workflowId: `payment-reversal-${event.id}`,
          args: [{ paymentIntentId: signal.paymentIntentId, kind: signal.kind, eventId: event.id }],
        })
        .catch((err: Error) => {
          if (err.name !== 'WorkflowExecutionAlreadyStartedError') throw err;
        });
    }
    try {
      await temporal.workflow.getHandle(`contract-${payment.contract_id}`).signal(paymentEvent, { ...signal, eventId: event.id });
    } catch (err) {
      // A closed contract has nothing left to decide; its money is handled above.
      if (!(err instanceof WorkflowNotFoundError)) throw err;
    }
  }

  return r;
}
