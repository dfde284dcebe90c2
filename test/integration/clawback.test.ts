import type { Knex } from 'knex';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/eventually';
import { postContract, registerAgent, registerUser, startPlatform, waitForContract, type Api, type Platform } from '../support/platform';

// A refund reported by Stripe after settlement, through the signed webhook, the reversal
// workflow and the ledger: the owner gives back what the contract paid them, nothing more.
let platform: Platform;
let api: Api;
let knex: Knex;
beforeAll(async () => {
  platform = await startPlatform();
  api = platform.api;
  knex = platform.deps.knex;
});
afterAll(async () => platform?.close());

type Agent = Awaited<ReturnType<typeof registerAgent>>;

/** A contract settled at `price` for `agent`, returning it and its payment intent. */
async function settle(agent: Agent, price: number) {
  const user = await registerUser(api);
  const id = await postContract(api, user.token, { required_capabilities: ['pdf'] });
  const bid = await api('POST', '/api/v1/mesh/bid', { apiKey: agent.apiKey, body: { contract_id: id, price_cents: price, eta_seconds: 600, confidence: 0.9 } });
  expect(bid.status).toBe(201);
  await api('POST', `/api/v1/contracts/${id}/close-bidding`, { token: user.token });
  await waitForContract(api, user.token, id, 'IN_PROGRESS');
  await api('POST', '/api/v1/mesh/deliver', { apiKey: agent.apiKey, body: { contract_id: id, output: 'done' } });
  await waitForContract(api, user.token, id, 'DELIVERED');
  await api('POST', `/api/v1/contracts/${id}/accept`, { token: user.token, body: { rating: 5 } });
  await waitForContract(api, user.token, id, 'SETTLED');
  const payment = await knex('payments').where({ contract_id: id }).first('id', 'stripe_payment_intent_id');
  return { id, paymentId: payment.id as string, paymentIntentId: payment.stripe_payment_intent_id as string };
}

/** Stripe reports the charge refunded, signed as Stripe signs it. */
async function refundAtStripe(paymentIntentId: string) {
  const payload = JSON.stringify({
    id: `evt_${randomUUID().replaceAll('-', '')}`,
    object: 'event',
    type: 'charge.refunded',
    created: Math.floor(Date.now() / 1000),
    data: { object: { id: 'ch_refunded', object: 'charge', payment_intent: paymentIntentId } },
  });
  const signature = platform.deps.stripe.webhooks.generateTestHeaderString({ payload, secret: platform.config.STRIPE_WEBHOOK_SECRET });
  return fetch(`${platform.base}/api/v1/webhooks/stripe`, { method: 'POST', headers: { 'Content-Type': 'application/json', 'Stripe-Signature': signature }, body: payload });
}

const clawbackOf = (contractId: string) =>
  knex('ledger_entries as e')
    .join('ledger_transactions as t', 't.id', 'e.transaction_id')
    .where({ 'e.contract_id': contractId, 't.kind': 'clawback' })
    .orderBy('e.line')
    .select('e.account', 'e.amount_cents');

async function walletLedgerSum(userId: string) {
  const [sum] = await knex('ledger_entries').where({ account: 'agent_wallet', account_id: userId }).sum({ total: 'amount_cents' });
  return Number(sum?.total ?? 0);
}

describe('a refund after settlement', () => {
  it('takes back that contract’s payout, not its price, and spares the owner’s other earnings', async () => {
    const owner = await registerUser(api, 'Owner');
    const agent = await registerAgent(api, owner.token);
    // 4005 cents pays the owner 3604 after the 401 fee; another contract pays them 1800.
    const refunded = await settle(agent, 4_005);
    await settle(agent, 2_000);
    expect((await api('GET', '/api/v1/wallet', { token: owner.token })).body.balance_cents).toBe(5_404);

    expect((await refundAtStripe(refunded.paymentIntentId)).status).toBe(200);
    await eventually(async () => expect((await knex('payments').where({ id: refunded.paymentId }).first('status')).status).toBe('refunded'));

    expect(await clawbackOf(refunded.id)).toEqual([
      { account: 'stripe_clearing', amount_cents: 4_005 },
      { account: 'agent_wallet', amount_cents: -3_604 },
      { account: 'platform_revenue', amount_cents: -401 },
    ]);
    const wallet = await api('GET', '/api/v1/wallet', { token: owner.token });
    expect(wallet.body).toMatchObject({ balance_cents: 1_800, lifetime_earnings_cents: 1_800 });
    expect(await walletLedgerSum(owner.id)).toBe(1_800);
  });
});
