import { Client, Connection, defaultGrpcRetryOptions, makeGrpcRetryInterceptor } from '@temporalio/client';
import knexFactory, { type Knex } from 'knex';
import { createHash, randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../api/app';
import type { ApiDeps } from '../../api/deps';
import { eventually } from '../support/eventually';
import { postContract, registerAgent, registerUser, startPlatform, waitForContract, type Platform } from '../support/platform';

// POST /webhooks/stripe against the real platform: what is refused (400), what is acknowledged
// as unprocessable and recorded (200, never retried), what is processed, and what is a fault (5xx).
let platform: Platform;
let knex: Knex;
beforeAll(async () => {
  platform = await startPlatform();
  knex = platform.deps.knex;
});
afterAll(async () => platform?.close());

const now = () => Math.floor(Date.now() / 1000);
const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');
const sign = (payload: string, timestamp?: number) =>
  platform.deps.stripe.webhooks.generateTestHeaderString({ payload, secret: platform.config.STRIPE_WEBHOOK_SECRET, timestamp });
async function send(payload: string, header = sign(payload), base = platform.base) {
  const res = await fetch(`${base}/api/v1/webhooks/stripe`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'Stripe-Signature': header },
    body: payload,
  });
  return { status: res.status, body: (await res.json()) as any };
}
const eventId = () => `evt_${randomUUID().replaceAll('-', '')}`;
const event = (fields: Record<string, unknown>) => JSON.stringify({ id: eventId(), object: 'event', type: 'customer.created', created: now(), ...fields });
const rows = (key: string) => knex('stripe_events').where({ id: key });

/** An in-progress contract with an authorised escrow payment. */
async function withPayment() {
  const { api } = platform;
  const user = await registerUser(api);
  const owner = await registerUser(api, 'Owner');
  const agent = await registerAgent(api, owner.token);
  const id = await postContract(api, user.token, { required_capabilities: ['pdf'] });
  const bid = await api('POST', '/api/v1/mesh/bid', { apiKey: agent.apiKey, body: { contract_id: id, price_cents: 4_000, eta_seconds: 600, confidence: 0.9 } });
  expect(bid.status).toBe(201);
  expect((await api('POST', `/api/v1/contracts/${id}/close-bidding`, { token: user.token, body: {} })).status).toBe(200);
  await waitForContract(api, user.token, id, 'IN_PROGRESS');
  const payment = await knex('payments').where({ contract_id: id }).first('stripe_payment_intent_id');
  return { contractId: id, paymentIntentId: payment.stripe_payment_intent_id as string };
}

async function paymentSignals(contractId: string) {
  const history = await platform.deps.temporal.workflow.getHandle(`contract-${contractId}`).fetchHistory();
  return (history.events ?? []).filter((e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'paymentEvent');
}

/**
 * The contract's paymentEvent signals once one is in its history. A signal that arrives while a
 * workflow task runs is buffered by the server and shows in the history only when that task
 * completes, so the count is read once it is no longer zero.
 */
async function signalsOnceSeen(contractId: string) {
  return eventually(async () => {
    const signals = await paymentSignals(contractId);
    return signals.length > 0 && signals;
  }, { message: `a paymentEvent signal in contract-${contractId}'s history` });
}

/** The same API on other deps, for faults the shared platform must not suffer. */
async function apiWith(deps: Partial<ApiDeps>) {
  const server: Server = createApp({ ...platform.deps, ...deps }).listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise((r) => server.close(r)) };
}

describe('signature and timestamp', () => {
  const tolerance = () => platform.config.STRIPE_WEBHOOK_TOLERANCE_SECONDS;

  it('refuses a correctly signed timestamp an hour in the future, naming Stripe-Signature', async () => {
    const payload = event({});
    const res = await send(payload, sign(payload, now() + 3600));
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: 'INVALID_SIGNATURE', details: [{ field: 'Stripe-Signature' }] });
    expect(res.body.error.message).toMatch(/future/);
    expect(await rows(JSON.parse(payload).id)).toHaveLength(0);
  });

  it('refuses a correctly signed timestamp older than the tolerance', async () => {
    const payload = event({});
    const res = await send(payload, sign(payload, now() - tolerance() - 60));
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: 'INVALID_SIGNATURE', details: [{ field: 'Stripe-Signature' }] });
    expect(await rows(JSON.parse(payload).id)).toHaveLength(0);
  });

  it('accepts a timestamp inside the tolerance on either side (clock skew)', async () => {
    for (const t of [now() - tolerance() + 30, now() + tolerance() - 30]) {
      const payload = event({ data: { object: { id: 'cus_skew' } } });
      expect(await send(payload, sign(payload, t))).toEqual({ status: 200, body: { received: true } });
    }
  });

  it('refuses a header with two timestamps, a forged signature, and no header', async () => {
    const payload = event({ data: { object: { id: 'cus_x' } } });
    const later = now() + 3600;
    // Stripe's own parser takes the last t=, which this signature covers.
    const twoStamps = `t=${now()},${sign(payload, later)}`;
    expect((await send(payload, twoStamps)).body.error).toMatchObject({ code: 'INVALID_SIGNATURE', details: [{ field: 'Stripe-Signature' }] });
    const forged = await send(payload, sign(payload).replace(/v1=[0-9a-f]+/, `v1=${'0'.repeat(64)}`));
    expect(forged.status).toBe(400);
    const unsigned = await fetch(`${platform.base}/api/v1/webhooks/stripe`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: payload });
    expect(unsigned.status).toBe(400);
    expect(await rows(JSON.parse(payload).id)).toHaveLength(0);
  });
});

describe('correctly signed events that can never be processed', () => {
  const id = eventId();
  // [what, payload, the row's key (the event id, or the body hash when the id is unusable), reason]
  const cases: [string, string, 'id' | 'hash', RegExp][] = [
    ['an empty object', '{}', 'hash', /no id/],
    ['an array', '[]', 'hash', /array/],
    ['an event without data', event({ id: `${id}_nodata` }), 'id', /no data$/],
    ['an event whose data has no object', event({ id: `${id}_noobject`, data: {} }), 'id', /no data\.object/],
    ['an event without a type', JSON.stringify({ id: `${id}_notype`, data: { object: {} } }), 'id', /no type/],
    ['a payment intent event whose object has no id', event({ id: `${id}_nopi`, type: 'payment_intent.succeeded', data: { object: { object: 'payment_intent' } } }), 'id', /data\.object\.id is missing/],
    ['a payment intent event whose object id is a number', event({ id: `${id}_numpi`, type: 'payment_intent.payment_failed', data: { object: { id: 42 } } }), 'id', /data\.object\.id is a number/],
    ['a refund of a charge with no payment intent', event({ id: `${id}_nocharge`, type: 'charge.refunded', data: { object: { id: 'ch_1', payment_intent: null } } }), 'id', /payment_intent is missing/],
    ['a payment Hermes does not know', event({ id: `${id}_unknown`, type: 'payment_intent.succeeded', data: { object: { id: `pi_unknown_${randomUUID()}` } } }), 'id', /no Hermes payment/],
    ['a NUL byte in a value', event({ id: `${id}_nul`, data: { object: { id: 'cus_\u0000x' } } }), 'id', /NUL/],
    ['a lone surrogate in a key', event({ id: `${id}_surrogate`, data: { object: { id: 'cus_1', ['na\ud800me']: 'x' } } }), 'id', /surrogate/],
    ['a NUL byte in the event id', event({ id: `evt_\u0000${randomUUID()}`, data: { object: { id: 'cus_1' } } }), 'hash', /NUL/],
    ['an event id that is a number', event({ id: Date.now(), data: { object: { id: 'cus_1' } } }), 'hash', /id is a number, not a string/],
    ['an event id that is an object', event({ id: { nested: randomUUID() }, data: { object: { id: 'cus_1' } } }), 'hash', /id is an object, not a string/],
    ['an event id longer than 255 characters', event({ id: `evt_${'x'.repeat(300)}${randomUUID()}`, data: { object: { id: 'cus_1' } } }), 'hash', /longer than 255/],
  ];

  it.each(cases)('%s: acknowledged with 200 and recorded as unprocessable', async (_what, payload, keyed, reason) => {
    const res = await send(payload);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ received: true, unprocessable: true, reason: expect.stringMatching(reason) });
    const key = keyed === 'id' ? (JSON.parse(payload) as { id: string }).id : `sha256:${sha256(payload)}`;
    const [row, ...more] = await rows(key);
    expect(more).toEqual([]);
    expect(row).toMatchObject({ status: 'unprocessable', unprocessable_reason: res.body.reason, body_sha256: sha256(payload), processed_at: null });
  });

  it('keeps a sanitized payload when the original holds text Postgres cannot store', async () => {
    const payload = event({ type: 'customer.\u0000created', data: { object: { id: 'cus_\u0000', ['k\udc00']: '\ud83d' } } });
    expect((await send(payload)).status).toBe(200);
    const row = await rows(JSON.parse(payload).id).first();
    expect(row.type).toBe('customer.\uFFFDcreated');
    expect(row.payload.data.object).toEqual({ id: 'cus_\uFFFD', ['k\uFFFD']: '\uFFFD' });
  });

  it('a redelivery of an unprocessable event is acknowledged again and stays one row', async () => {
    for (const payload of ['{}', event({ id: `${eventId()}_redelivered` })]) {
      const first = await send(payload, sign(payload, now() - 10));
      const again = await send(payload, sign(payload));
      expect(again).toEqual({ status: 200, body: { ...first.body, duplicate: true } });
      const key = payload === '{}' ? `sha256:${sha256(payload)}` : JSON.parse(payload).id;
      expect(await rows(key)).toHaveLength(1);
    }
  });
});

describe('events that are processed', () => {
  it('processes a valid event once and acknowledges a redelivery as a duplicate', async () => {
    const payload = event({ data: { object: { id: 'cus_valid' } } });
    expect(await send(payload)).toEqual({ status: 200, body: { received: true } });
    expect(await send(payload)).toEqual({ status: 200, body: { received: true, duplicate: true } });
    const stored = await rows(JSON.parse(payload).id);
    expect(stored).toEqual([
      expect.objectContaining({ status: 'processed', unprocessable_reason: null, type: 'customer.created', body_sha256: sha256(payload), processed_at: expect.any(Date) }),
    ]);
    expect(stored[0].payload).toEqual(JSON.parse(payload));
  });

  it('signals the contract of a known payment, as before', async () => {
    const { contractId, paymentIntentId } = await withPayment();
    const payload = event({ type: 'payment_intent.succeeded', data: { object: { id: paymentIntentId, object: 'payment_intent' } } });
    expect(await send(payload)).toEqual({ status: 200, body: { received: true } });
    expect(await rows(JSON.parse(payload).id).first('status')).toEqual({ status: 'processed' });
    expect(await signalsOnceSeen(contractId)).toHaveLength(1);
  });

  it('starts the payment reversal for a refund of a known payment (payment intent expanded), as before', async () => {
    const { paymentIntentId } = await withPayment();
    const payload = event({ type: 'charge.refunded', data: { object: { id: 'ch_1', object: 'charge', payment_intent: { id: paymentIntentId } } } });
    expect(await send(payload)).toEqual({ status: 200, body: { received: true } });
    expect(await rows(JSON.parse(payload).id).first('status')).toEqual({ status: 'processed' });
    const reversal = await platform.deps.temporal.workflow.getHandle(`payment-reversal-${JSON.parse(payload).id}`).describe();
    expect(reversal.type).toBe('paymentReversalWorkflow');
  });

  it('processes an otherwise valid event nested too deeply to store, keeping the row without its payload', async () => {
    const deep = `${'{"a":'.repeat(200)}1${'}'.repeat(200)}`;
    const payload = `{"id":"${eventId()}","object":"event","type":"customer.created","data":{"object":{"id":"cus_deep","metadata":${deep}}}}`;
    expect(await send(payload)).toEqual({ status: 200, body: { received: true } });
    expect(await rows(JSON.parse(payload).id).first('status', 'payload')).toEqual({ status: 'processed', payload: null });
  });
});

describe('real faults answer 5xx, so Stripe retries', () => {
  it('database down: 503, nothing recorded; the retry is processed', async () => {
    const down = knexFactory({ client: 'pg', connection: 'postgres://hermes:hermes@127.0.0.1:1/hermes', pool: { min: 0, max: 1 }, acquireConnectionTimeout: 2_000 });
    const broken = await apiWith({ knex: down });
    try {
      const payload = event({ data: { object: { id: 'cus_retry' } } });
      expect((await send(payload, sign(payload), broken.base)).status).toBe(503);
      expect(await rows(JSON.parse(payload).id)).toHaveLength(0);
      expect(await send(payload)).toEqual({ status: 200, body: { received: true } });
    } finally {
      await broken.close();
      await down.destroy();
    }
  });

  it('Temporal unreachable: 503 with Retry-After and the row rolled back; the retry signals the contract', async () => {
    const { contractId, paymentIntentId } = await withPayment();
    // A real client whose server is gone: nothing listens on port 1. Two attempts, not the
    // SDK's ten, so the test does not wait out the client's whole backoff.
    const connection = await Connection.lazy({
      address: '127.0.0.1:1',
      interceptors: [makeGrpcRetryInterceptor(defaultGrpcRetryOptions({ maxAttempts: 2 }))],
    });
    const broken = await apiWith({ temporal: new Client({ connection }) });
    try {
      const payload = event({ type: 'payment_intent.succeeded', data: { object: { id: paymentIntentId } } });
      const res = await fetch(`${broken.base}/api/v1/webhooks/stripe`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'stripe-signature': sign(payload) },
        body: payload,
      });
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('UNAVAILABLE');
      expect(await rows(JSON.parse(payload).id)).toHaveLength(0);
      expect(await send(payload)).toEqual({ status: 200, body: { received: true } });
      expect(await signalsOnceSeen(contractId)).toHaveLength(1);
    } finally {
      await broken.close();
      await connection.close();
    }
  });
});
