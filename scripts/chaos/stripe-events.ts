import { randomUUID } from 'node:crypto';
import Stripe from 'stripe';
import type { Http } from './http';
import { settings } from './settings';

// Stripe's side of a run: signed webhook events about a contract's PaymentIntent, sent as
// Stripe sends them (retried on a non-2xx, signed afresh each time) and sent twice, since
// Stripe may deliver an event more than once.

const signer = new Stripe('sk_test_chaos').webhooks;
const stripeSignature = (payload: string) => signer.generateTestHeaderString({ payload, secret: settings.webhookSecret });

export type StripeEventType = 'charge.refunded' | 'charge.dispute.created' | 'payment_intent.amount_capturable_updated';

export interface SentEvent {
  contractId: string;
  eventId: string;
  type: StripeEventType;
  paymentIntentId: string;
  /** The first delivery's answer and the redelivery's. */
  answers: { status: number; body: any }[];
}

/** The contract's PaymentIntent, from its owner's payment history (newest first). */
export async function paymentIntentOf(http: Http, token: string, contractId: string): Promise<string | null> {
  let cursor: string | undefined;
  for (let page = 0; page < 5; page++) {
    const res = await http.call('GET', `/payments/history?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, {
      actor: 'stripe',
      credentials: { token },
      contractId,
    });
    if (res.status !== 200) return null;
    const hit = (res.body.data as { contract_id: string; payment_intent_id: string }[]).find((e) => e.contract_id === contractId);
    if (hit) return hit.payment_intent_id;
    cursor = res.body.next_cursor ?? undefined;
    if (!cursor) return null;
  }
  return null;
}

export async function sendStripeEvent(http: Http, contractId: string, type: StripeEventType, paymentIntentId: string): Promise<SentEvent> {
  const eventId = `evt_chaos_${randomUUID().replaceAll('-', '')}`;
  const object =
    type === 'payment_intent.amount_capturable_updated'
      ? { id: paymentIntentId, object: 'payment_intent', status: 'requires_capture' }
      : type === 'charge.refunded'
        ? { id: `ch_chaos_${randomUUID().slice(0, 8)}`, object: 'charge', payment_intent: paymentIntentId, refunded: true }
        : { id: `dp_chaos_${randomUUID().slice(0, 8)}`, object: 'dispute', payment_intent: paymentIntentId, status: 'needs_response' };
  const event = { id: eventId, object: 'event', type, created: Math.floor(Date.now() / 1000), data: { object } };
  const sent: SentEvent = { contractId, eventId, type, paymentIntentId, answers: [] };
  for (let n = 0; n < 2; n++) {
    const res = await http.call('POST', '/webhooks/stripe', { actor: 'stripe', credentials: { stripeSignature }, body: event, contractId, key: null });
    sent.answers.push({ status: res.status, body: res.body });
  }
  return sent;
}
