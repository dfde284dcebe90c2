import Router from '@koa/router';
import { WorkflowNotFoundError } from '@temporalio/client';
import { createHash } from 'node:crypto';
import type Stripe from 'stripe';
import type { PaymentSignal } from '../../domain/contract-types';
import { paymentEvent } from '../../workflows/contract-messages';
import { paymentReversalWorkflow } from '../../workflows/payment-reversal';
import type { ApiDeps } from '../deps';
import { HttpError } from '../errors';

// Stripe's ids are short; a longer one would not fit a btree key anyway.
const MAX_ID_LENGTH = 255;
// Stripe events nest a dozen levels at most. Deeper payloads are kept without their body.
const MAX_STORED_DEPTH = 100;
// What Postgres text/jsonb cannot hold: NUL, and UTF-16 surrogates that are not in a pair.
const UNSTORABLE = /[\u0000\p{Cs}]/u;
const clean = (s: string) => s.replace(/[\u0000\p{Cs}]/gu, '\uFFFD');

type JsonObject = Record<string, unknown>;
const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);
const describe = (v: unknown) => (v === undefined ? 'missing' : v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : `a ${typeof v}`);
// For reasons and logs: a value from the payload, bounded.
const quote = (s: string) => JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}…` : s);

/** Depth and unstorable text of parsed JSON, without recursion: a signed body may nest deeply. */
function survey(value: unknown): { unstorable: boolean; depth: number } {
  let unstorable = false;
  let depth = 0;
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length) {
    const [v, d] = stack.pop()!;
    depth = Math.max(depth, d);
    if (typeof v === 'string') unstorable ||= UNSTORABLE.test(v);
    else if (Array.isArray(v)) for (const x of v) stack.push([x, d + 1]);
    else if (isObject(v)) {
      for (const [k, x] of Object.entries(v)) {
        unstorable ||= UNSTORABLE.test(k);
        stack.push([x, d + 1]);
      }
    }
  }
  return { unstorable, depth };
}

/** The same JSON with unstorable characters replaced by U+FFFD (only called within MAX_STORED_DEPTH). */
function scrub(value: unknown): unknown {
  if (typeof value === 'string') return clean(value);
  if (Array.isArray(value)) return value.map(scrub);
  if (isObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [clean(k), scrub(v)]));
  return value;
}

// What a delivery is stored as, and either the event to act on or why there is none.
type Delivery = { key: string; type: string | null; payload: string | null; givenId: unknown } & (
  | { event: Stripe.Event; reason?: undefined }
  | { event?: undefined; reason: string }
);

function triage(raw: string, bodySha256: string): Delivery {
  // An event whose own id cannot be a key (missing, not a string, NUL, too long) is still
  // recorded, under the hash of its body: operators see it, and Stripe's redeliveries of it
  // (same body, new signature) land on the same row instead of piling up.
  const derivedKey = `sha256:${bodySha256}`;
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return { key: derivedKey, type: null, payload: null, givenId: undefined, reason: 'body is not JSON' };
  }
  const { unstorable, depth } = survey(value);
  const payload = depth > MAX_STORED_DEPTH ? null : JSON.stringify(unstorable ? scrub(value) : value);
  const obj = isObject(value) ? value : {};
  const { id, type, data } = obj;
  const usableId = typeof id === 'string' && id.length > 0 && id.length <= MAX_ID_LENGTH && !UNSTORABLE.test(id);
  const stored = { key: usableId ? id : derivedKey, type: typeof type === 'string' ? clean(type) : null, payload, givenId: id };
  const reason = !isObject(value)
    ? `payload is ${describe(value)}, not an event object`
    : unstorable
      ? 'payload contains a NUL character or an unpaired UTF-16 surrogate, which Postgres cannot store'
      : id === undefined
        ? 'event has no id'
        : typeof id !== 'string'
          ? `event id is ${describe(id)}, not a string`
          : !usableId
            ? `event id is empty or longer than ${MAX_ID_LENGTH} characters`
            : typeof type !== 'string'
              ? type === undefined ? 'event has no type' : `event type is ${describe(type)}, not a string`
              : !isObject(data)
                ? 'event has no data'
                : !isObject(data.object)
                  ? 'event has no data.object'
                  : undefined;
  return reason ? { ...stored, reason } : { ...stored, event: value as unknown as Stripe.Event };
}

// Which Stripe events matter, and what they mean for a contract's payment: a signal, a reason
// the event can never be acted on, or null for events Hermes ignores.
type Routing = { signal: Omit<PaymentSignal, 'eventId'> } | { reason: string } | null;
function signalOf(event: Stripe.Event): Routing {
  const object = event.data.object as unknown as JsonObject;
  const intent = (kind: PaymentSignal['kind']): Routing =>
    typeof object.id === 'string' && object.id
      ? { signal: { kind, paymentIntentId: object.id } }
      : { reason: `${event.type}: data.object.id is ${object.id === undefined ? 'missing' : `${describe(object.id)}, not a payment intent id`}` };
  const charge = (kind: PaymentSignal['kind']): Routing => {
    const pi = object.payment_intent;
    const id = isObject(pi) ? pi.id : pi;
    return typeof id === 'string' && id
      ? { signal: { kind, paymentIntentId: id } }
      : { reason: `${event.type}: data.object.payment_intent is missing, so no Hermes payment can be found` };
  };
  switch (event.type) {
    case 'payment_intent.succeeded':
    case 'payment_intent.amount_capturable_updated':
      return intent('succeeded');
    case 'payment_intent.payment_failed':
      return intent('failed');
    case 'payment_intent.canceled':
      return intent('canceled');
    case 'charge.refunded':
      return charge('refunded');
    case 'charge.dispute.created':
      return charge('disputed');
    default:
      return null;
  }
}

// POST /webhooks/stripe: the signature is checked on the raw body, and its timestamp must be
// within ±STRIPE_WEBHOOK_TOLERANCE_SECONDS of now (either way: a replay, or a forged clock), or
// the answer is 400. Each delivery gets one stripe_events row: `processed`, or `unprocessable`
// with the reason when a correctly signed event can never be acted on (malformed, text Postgres
// cannot store, a payment Hermes does not know). Both answer 200, so Stripe does not retry what
// retrying cannot fix; a redelivery is acknowledged and ignored. Only a real fault (database,
// Temporal) answers 5xx, and rolls the row back so Stripe's retry processes the event afresh.
export function webhooksRouter({ knex, stripe, temporal, config, log }: ApiDeps): Router {
  const r = new Router({ prefix: '/webhooks' });
  const tolerance = config.STRIPE_WEBHOOK_TOLERANCE_SECONDS;
  const refuse = (why: string) => new HttpError('INVALID_SIGNATURE', `webhook signature rejected: ${why}`, [{ field: 'Stripe-Signature' }]);

  function verify(raw: string, header: string): void {
    const now = Date.now();
    try {
      stripe.webhooks.signature!.verifyHeader(raw, header, config.STRIPE_WEBHOOK_SECRET, tolerance, undefined, now);
    } catch (err) {
      throw refuse((err as Error).message);
    }
    // Stripe's check only refuses old timestamps; one in the future is as suspect. Exactly one
    // t= (Stripe sends one), so this is the timestamp the signature covered.
    const stamps = header.split(',').filter((item) => item.split('=')[0] === 't');
    const t = stamps.length === 1 && /^t=\d{1,12}$/.test(stamps[0]!) ? Number(stamps[0]!.slice(2)) : null;
    if (t === null) throw refuse('the header must carry exactly one t=<unix seconds>');
    const skew = Math.floor(now / 1000) - t;
    if (Math.abs(skew) > tolerance) {
      throw refuse(`timestamp is ${Math.abs(skew)} s in the ${skew > 0 ? 'past' : 'future'}, outside ±${tolerance} s`);
    }
  }

  r.post('/stripe', async (ctx) => {
    const header = ctx.get('Stripe-Signature');
    if (!header) throw refuse('missing Stripe-Signature header');
    const raw = (ctx.request as { rawBody?: string }).rawBody ?? '';
    verify(raw, header);

    const bodySha256 = createHash('sha256').update(raw, 'utf8').digest('hex');
    const delivery = triage(raw, bodySha256);
    const outcome = await knex.transaction(async (trx) => {
      await trx('stripe_events')
        .insert({ id: delivery.key, type: delivery.type, payload: delivery.payload, body_sha256: bodySha256 })
        .onConflict('id')
        .ignore();
      const stored = await trx('stripe_events').where({ id: delivery.key }).forUpdate().first('status', 'unprocessable_reason');
      if (stored.status !== 'received') return { duplicate: true, reason: (stored.unprocessable_reason as string | null) ?? undefined };
      const reason = delivery.event ? await route(delivery.event) : delivery.reason;
      await trx('stripe_events')
        .where({ id: delivery.key })
        .update(reason ? { status: 'unprocessable', unprocessable_reason: reason } : { status: 'processed', processed_at: trx.fn.now() });
      return { duplicate: false, reason };
    });
    if (outcome.reason && !outcome.duplicate) {
      const givenId = delivery.givenId;
      log.warn(
        {
          stripeEventKey: delivery.key,
          // As sent, when it is not the key (pino escapes NUL and the like).
          ...(givenId !== delivery.key && { givenEventId: typeof givenId === 'string' ? quote(givenId) : describe(givenId) }),
          type: delivery.type && quote(delivery.type),
          bodySha256,
          reason: outcome.reason,
        },
        'Stripe webhook acknowledged as unprocessable',
      );
    }
    ctx.body = {
      received: true,
      ...(outcome.duplicate && { duplicate: true }),
      ...(outcome.reason && { unprocessable: true, reason: outcome.reason }),
    };
  });

  /** Acts on an event; returns why it can never be acted on, if so. Throws on real faults. */
  async function route(event: Stripe.Event): Promise<string | undefined> {
    const routing = signalOf(event);
    if (!routing) return undefined;
    if ('reason' in routing) return routing.reason;
    const { signal } = routing;
    const payment = await knex('payments').where({ stripe_payment_intent_id: signal.paymentIntentId }).first('contract_id');
    if (!payment) return `${event.type}: no Hermes payment has payment intent ${quote(signal.paymentIntentId)}`;
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
    return undefined;
  }

  return r;
}
