import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEscrowActivities } from '../../activities/escrow';
import { postLedger } from '../../db/ledger';
import { captureMovement, settlementMovement } from '../../domain/ledger';
import { createStripe } from '../../lib/stripe';
import { eventually } from '../support/eventually';
import { postContract, registerAgent, registerUser, startPlatform, waitForContract, type Api, type Platform } from '../support/platform';

// Money through HTTP against Postgres, Temporal and stripe-mock: payment methods, the ledger of
// each lifecycle exit, idempotent retries, webhooks, wallets and withdrawals.
let platform: Platform;
let api: Api;
let knex: Knex;
beforeAll(async () => {
  platform = await startPlatform();
  api = platform.api;
  knex = platform.deps.knex;
});
afterAll(async () => platform?.close());

const ledgerOf = (contractId: string) =>
  knex('ledger_entries as e')
    .join('ledger_transactions as t', 't.id', 'e.transaction_id')
    .where('e.contract_id', contractId)
    .orderBy(['t.created_at', 'e.line'])
    .select('t.kind', 'e.account', 'e.amount_cents');

async function unbalancedTransactions(): Promise<unknown[]> {
  return knex('ledger_entries').groupBy('transaction_id').havingRaw('sum(amount_cents) <> 0').select('transaction_id');
}

async function walletMatchesLedger(userId: string) {
  const wallet = await knex('agent_wallets').where({ user_id: userId }).first('balance_cents');
  const [sum] = await knex('ledger_entries').where({ account: 'agent_wallet', account_id: userId }).sum({ total: 'amount_cents' });
  return { cached: Number(wallet?.balance_cents ?? 0), ledger: Number(sum?.total ?? 0) };
}

async function inProgress(body: Record<string, unknown> = {}) {
  const user = await registerUser(api);
  const owner = await registerUser(api, 'Owner');
  const agent = await registerAgent(api, owner.token);
  const id = await postContract(api, user.token, { required_capabilities: ['pdf'], ...body });
  const bid = await api('POST', '/api/v1/mesh/bid', { apiKey: agent.apiKey, body: { contract_id: id, price_cents: 4_000, eta_seconds: 600, confidence: 0.9 } });
  expect(bid.status).toBe(201);
  await api('POST', `/api/v1/contracts/${id}/close-bidding`, { token: user.token });
  await waitForContract(api, user.token, id, 'IN_PROGRESS');
  return { user, owner, agent, id };
}

async function settled() {
  const m = await inProgress();
  await api('POST', '/api/v1/mesh/deliver', { apiKey: m.agent.apiKey, body: { contract_id: m.id, output: 'done' } });
  await waitForContract(api, m.user.token, m.id, 'DELIVERED');
  await api('POST', `/api/v1/contracts/${m.id}/accept`, { token: m.user.token, body: { rating: 5 } });
  await waitForContract(api, m.user.token, m.id, 'SETTLED');
  return m;
}

describe('payment methods', () => {
  it('attaches a method to the user’s Stripe customer and makes it the default', async () => {
    const user = await registerUser(api);
    const res = await api('POST', '/api/v1/payments/methods', { token: user.token, body: { payment_method: 'pm_card_visa' } });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ id: 'pm_card_visa', brand: 'visa', last4: '4242', is_default: true });
    expect((await knex('users').where({ id: user.id }).first('stripe_customer_id')).stripe_customer_id).toMatch(/^cus_/);
    expect((await api('GET', '/api/v1/payments/methods', { token: user.token })).body.data).toEqual([expect.objectContaining({ id: 'pm_card_visa', is_default: true })]);

    const bad = await api('POST', '/api/v1/payments/methods', { token: user.token, body: { payment_method: 'card 4242' } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details[0].field).toBe('payment_method');
  });

  it('escrow charges the user’s saved default method on their customer', async () => {
    const user = await registerUser(api);
    await api('POST', '/api/v1/payments/methods', { token: user.token, body: { payment_method: 'pm_card_mastercard' } });
    const owner = await registerUser(api, 'Owner');
    const agent = await registerAgent(api, owner.token);
    const id = await postContract(api, user.token, { required_capabilities: ['pdf'] });
    await api('POST', '/api/v1/mesh/bid', { apiKey: agent.apiKey, body: { contract_id: id, price_cents: 1_000, eta_seconds: 60, confidence: 0.5 } });
    await api('POST', `/api/v1/contracts/${id}/close-bidding`, { token: user.token });
    await waitForContract(api, user.token, id, 'IN_PROGRESS');
    expect(await knex('payments').where({ contract_id: id }).first()).toMatchObject({ stripe_payment_method_id: 'pm_card_mastercard', status: 'authorized' });
  });
});

describe('the ledger of each lifecycle exit', () => {
  it('settle: capture into escrow, then escrow → owner’s wallet less the 10% fee, in the history too', async () => {
    const { id, user, owner } = await settled();
    expect(await ledgerOf(id)).toEqual([
      { kind: 'capture', account: 'stripe_clearing', amount_cents: -4_000 },
      { kind: 'capture', account: 'user_escrow', amount_cents: 4_000 },
      { kind: 'settlement', account: 'user_escrow', amount_cents: -4_000 },
      { kind: 'settlement', account: 'agent_wallet', amount_cents: 3_600 },
      { kind: 'settlement', account: 'platform_revenue', amount_cents: 400 },
    ]);
    expect(await unbalancedTransactions()).toEqual([]);
    expect(await walletMatchesLedger(owner.id)).toEqual({ cached: 3_600, ledger: 3_600 });

    const history = await api('GET', '/api/v1/payments/history', { token: user.token });
    expect(history.body.data.map((e: { event: string }) => e.event)).toEqual(['captured', 'authorized']);
    expect(history.body.data[0]).toMatchObject({ contract_id: id, amount_cents: 4_000, currency: 'usd', payment_status: 'captured' });

    const wallet = await api('GET', '/api/v1/wallet', { token: owner.token });
    expect(wallet.body).toMatchObject({ balance_cents: 3_600, lifetime_earnings_cents: 3_600, pending_cents: 0, currency: 'usd' });
    const txs = await api('GET', '/api/v1/wallet/transactions', { token: owner.token });
    expect(txs.body.data).toEqual([expect.objectContaining({ kind: 'settlement', amount_cents: 3_600, contract_id: id })]);
  });

  it('cancel and a missed delivery void the hold: history only, no money moved', async () => {
    const cancelled = await inProgress();
    expect((await api('GET', '/api/v1/wallet', { token: cancelled.owner.token })).body.pending_cents).toBe(3_600);
    await api('POST', `/api/v1/contracts/${cancelled.id}/cancel`, { token: cancelled.user.token, body: {} });
    const missed = await inProgress({ delivery_window_seconds: 1 });
    await waitForContract(api, missed.user.token, missed.id, 'FAILED');
    for (const { id, user } of [cancelled, missed]) {
      await waitForContract(api, user.token, id, id === cancelled.id ? 'CANCELLED' : 'FAILED');
      expect(await ledgerOf(id)).toEqual([]);
      const events = await knex('payment_events').where({ contract_id: id }).orderBy('created_at').pluck('kind');
      expect(events).toEqual(['authorized', 'voided']);
    }
  });
});

describe('an activity retried after its Stripe call', () => {
  it('sends the same idempotency key and writes one ledger movement', async () => {
    const user = await registerUser(api);
    const id = await postContract(api, user.token);
    await api('POST', `/api/v1/contracts/${id}/cancel`, { token: user.token, body: {} });
    await waitForContract(api, user.token, id, 'CANCELLED');

    const stripe = createStripe(platform.config);
    const keys: string[] = [];
    stripe.on('request', (e: { idempotency_key?: string; path: string }) => {
      if (e.path.includes('/capture')) keys.push(e.idempotency_key!);
    });
    const escrow = createEscrowActivities({ knex, stripe, config: platform.config });
    // The database fails once, right after Stripe captured: the activity errors, Temporal retries.
    let failures = 1;
    const flaky = new Proxy(knex, {
      get(target, prop, receiver) {
        if (prop === 'transaction' && failures-- > 0) return async () => Promise.reject(new Error('connection reset'));
        return Reflect.get(target, prop, receiver);
      },
    }) as Knex;
    const flakyEscrow = createEscrowActivities({ knex: flaky, stripe, config: platform.config });

    const hold = await escrow.holdEscrow({ contractId: id, userId: user.id, agentId: (await registerAgent(api, user.token)).id, amountCents: 2_500, currency: 'usd', idempotencyKey: `test-${id}/hold` });
    const capture = { paymentIntentId: hold.paymentIntentId, amountCents: 2_500, idempotencyKey: `test-${id}/capture` };
    await expect(flakyEscrow.captureEscrow(capture)).rejects.toThrow('connection reset');
    expect(await ledgerOf(id)).toEqual([]);
    await escrow.captureEscrow(capture); // the retry
    await escrow.captureEscrow(capture); // and a duplicate delivery of it
    expect(keys).toEqual([`test-${id}/capture`, `test-${id}/capture`]);
    expect(await ledgerOf(id)).toEqual([
      { kind: 'capture', account: 'stripe_clearing', amount_cents: -2_500 },
      { kind: 'capture', account: 'user_escrow', amount_cents: 2_500 },
    ]);
    // Give the money back the same way: one refund movement however often it is asked for.
    await escrow.refundEscrow({ paymentIntentId: hold.paymentIntentId, idempotencyKey: `test-${id}/refund`, reason: 'test' });
    await escrow.refundEscrow({ paymentIntentId: hold.paymentIntentId, idempotencyKey: `test-${id}/refund`, reason: 'test' });
    const [escrowSum] = await knex('ledger_entries').where({ account: 'user_escrow', account_id: id }).sum({ total: 'amount_cents' });
    expect(Number(escrowSum!.total)).toBe(0);
    expect((await ledgerOf(id)).filter((l) => l.kind === 'refund')).toHaveLength(2);
  });
});

describe('Stripe webhooks', () => {
  const stripe = () => platform.deps.stripe;
  const send = (payload: string, header: string) =>
    fetch(`${platform.base}/api/v1/webhooks/stripe`, { method: 'POST', headers: { 'Content-Type': 'application/json', 'Stripe-Signature': header }, body: payload });
  const event = (id: string, type: string, object: Record<string, unknown>) =>
    JSON.stringify({ id, object: 'event', type, created: Math.floor(Date.now() / 1000), data: { object } });
  const sign = (payload: string, timestamp?: number) =>
    stripe().webhooks.generateTestHeaderString({ payload, secret: platform.config.STRIPE_WEBHOOK_SECRET, timestamp });

  it('accepts a signed event once and acknowledges a redelivery without acting on it', async () => {
    const payload = event(`evt_${Date.now()}`, 'customer.created', { id: 'cus_x' });
    const first = await send(payload, sign(payload));
    expect(first.status).toBe(200);
    expect(await first.json()).toEqual({ received: true });
    const again = await send(payload, sign(payload));
    expect(await again.json()).toEqual({ received: true, duplicate: true });
    expect(await knex('stripe_events').where({ id: JSON.parse(payload).id })).toHaveLength(1);
  });

  it('refuses a bad signature, a stale timestamp and a missing header', async () => {
    const payload = event(`evt_bad_${Date.now()}`, 'customer.created', { id: 'cus_x' });
    const forged = await send(payload, sign(payload).replace(/v1=[0-9a-f]+/, 'v1=' + '0'.repeat(64)));
    expect(forged.status).toBe(400);
    expect(((await forged.json()) as { error: { code: string } }).error.code).toBe('INVALID_SIGNATURE');
    const stale = await send(payload, sign(payload, Math.floor(Date.now() / 1000) - 3600));
    expect(stale.status).toBe(400);
    const unsigned = await fetch(`${platform.base}/api/v1/webhooks/stripe`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: payload });
    expect(unsigned.status).toBe(400);
    expect(await knex('stripe_events').where({ id: JSON.parse(payload).id })).toHaveLength(0);
  });

  it('a refund after settlement claws the payout back from the wallet, balanced', async () => {
    const { id, owner } = await settled();
    const payment = await knex('payments').where({ contract_id: id }).first();
    const payload = event(`evt_refund_${Date.now()}`, 'charge.refunded', { id: 'ch_x', object: 'charge', payment_intent: payment.stripe_payment_intent_id });
    expect((await send(payload, sign(payload))).status).toBe(200);
    await eventually(async () => expect((await knex('payments').where({ id: payment.id }).first('status')).status).toBe('refunded'), {
      timeout: 10_000,
      interval: 100,
    });
    const clawback = (await ledgerOf(id)).filter((l) => l.kind === 'clawback');
    expect(clawback).toEqual([
      { kind: 'clawback', account: 'stripe_clearing', amount_cents: 4_000 },
      { kind: 'clawback', account: 'agent_wallet', amount_cents: -3_600 },
      { kind: 'clawback', account: 'platform_revenue', amount_cents: -400 },
    ]);
    expect(await walletMatchesLedger(owner.id)).toEqual({ cached: 0, ledger: 0 });
    expect(await unbalancedTransactions()).toEqual([]);
  });
});

describe('withdrawals', () => {
  // Earnings on real contract rows, through the same ledger code the workflow uses.
  async function earn(ownerId: string, userToken: string, cents: number) {
    const contractId = await postContract(api, userToken, { reward_cents: cents });
    await waitForContract(api, userToken, contractId, 'BIDDING');
    await knex.transaction(async (trx) => {
      await postLedger(trx, { idempotencyKey: `seed/${contractId}/capture`, kind: 'capture', description: 'seed', currency: 'usd', contractId, lines: captureMovement(contractId, cents) });
      await postLedger(trx, { idempotencyKey: `seed/${contractId}/settle`, kind: 'settlement', description: 'seed', currency: 'usd', contractId, lines: settlementMovement(contractId, ownerId, cents, 0) });
    });
    return contractId;
  }

  async function ownerWithBalance(...amounts: number[]) {
    const owner = await registerUser(api, 'Owner');
    const user = await registerUser(api);
    const contracts = [];
    for (const a of amounts) contracts.push(await earn(owner.id, user.token, a));
    expect((await api('POST', '/api/v1/wallet/payout-account', { token: owner.token })).status).toBe(201);
    return { owner, contracts };
  }

  it('pays out to the connected account, one transfer per contract in its transfer group, idempotently', async () => {
    const { owner, contracts } = await ownerWithBalance(3_000, 2_000);
    const res = await withdrawWithKey(owner.token, 4_000, `w-${owner.id}`);
    expect(res.status).toBe(202);
    const again = await withdrawWithKey(owner.token, 4_000, `w-${owner.id}`);
    expect(again.status).toBe(202); // a replay answers as the first request did
    expect(again.body.id).toBe(res.body.id);

    const paid = await waitForWithdrawal(owner.token, res.body.id, 'paid');
    expect(paid.transfers).toEqual([
      expect.objectContaining({ contract_id: contracts[0], amount_cents: 3_000, transfer_group: `contract-${contracts[0]}`, stripe_transfer_id: expect.stringMatching(/^tr_/) }),
      expect.objectContaining({ contract_id: contracts[1], amount_cents: 1_000, transfer_group: `contract-${contracts[1]}` }),
    ]);
    expect((await api('GET', '/api/v1/wallet', { token: owner.token })).body.balance_cents).toBe(1_000);
    expect(await walletMatchesLedger(owner.id)).toEqual({ cached: 1_000, ledger: 1_000 });
  });

  it('refuses more than the balance, no payout account, and a missing Idempotency-Key', async () => {
    const { owner } = await ownerWithBalance(1_000);
    const over = await withdrawWithKey(owner.token, 1_001, `over-${owner.id}`);
    expect(over.status).toBe(409);
    expect(over.body.error).toMatchObject({ code: 'INSUFFICIENT_FUNDS', details: [{ field: 'amount_cents' }] });
    const noKey = await api('POST', '/api/v1/wallet/withdrawals', { token: owner.token, body: { amount_cents: 10 } });
    expect(noKey.status).toBe(400);
    const stranger = await registerUser(api);
    const noAccount = await withdrawWithKey(stranger.token, 10, `none-${stranger.id}`);
    expect(noAccount.body.error.code).toBe('PAYOUT_ACCOUNT_REQUIRED');
  });

  it('concurrent withdrawals cannot overdraw the wallet', async () => {
    const { owner } = await ownerWithBalance(1_000);
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => withdrawWithKey(owner.token, 300, `race-${owner.id}-${i}`)));
    const statuses = results.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 202)).toHaveLength(3);
    expect(statuses.filter((s) => s === 409)).toHaveLength(7);
    expect(await walletMatchesLedger(owner.id)).toEqual({ cached: 100, ledger: 100 });
  });

  async function withdrawWithKey(token: string, amount: number, key: string) {
    const res = await fetch(`${platform.base}/api/v1/wallet/withdrawals`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', 'Idempotency-Key': key },
      body: JSON.stringify({ amount_cents: amount }),
    });
    return { status: res.status, body: (await res.json()) as any };
  }

  async function waitForWithdrawal(token: string, id: string, status: string) {
    return eventually(
      async () => {
        const { body } = await api('GET', `/api/v1/wallet/withdrawals/${id}`, { token });
        if (body.status !== status) throw new Error(`withdrawal ${id} is ${body.status}`);
        return body;
      },
      { timeout: 15_000, interval: 100 },
    );
  }
});
