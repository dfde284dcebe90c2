import fc from 'fast-check';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEscrowActivities } from '../../activities/escrow';
import { createPaymentReversalActivities } from '../../activities/payment-reversals';
import { createKnex } from '../../db/knex';
import { postLedger } from '../../db/ledger';
import { reserveWithdrawal, WithdrawalRefused } from '../../db/withdrawals';
import { captureMovement, refundMovement } from '../../domain/ledger';
import { loadConfig } from '../../lib/config';
import { createStripe } from '../../lib/stripe';

// Thousands of random contract lifecycles — settle, fail before or after capture, refunds and
// disputes after settlement, retried steps, concurrent withdrawals by the same owners — driven
// through the same database code the activities and the API use, against Postgres. After every
// batch: each ledger transaction sums to zero, the ledger as a whole sums to zero, every
// wallet's cached balance equals its ledger sum and is never negative, and every finished
// contract's escrow is empty. (Stripe is not in this loop: its calls are covered, with their
// idempotency keys, in money.test.ts.)
const config = loadConfig();
const knex = createKnex(config);
const reversals = createPaymentReversalActivities({ knex });
const BATCH = 8;
const RUNS = Number(process.env.LEDGER_PROPERTY_RUNS ?? 250); // × BATCH lifecycles

let payer: string;
const owners: { userId: string; agentId: string }[] = [];
const touched = new Set<string>();

beforeAll(async () => {
  const user = async (name: string) =>
    (await knex('users').insert({ email: `${name}-${randomUUID()}@example.com`, password_hash: 'x', name }).returning('id'))[0].id as string;
  payer = await user('payer');
  for (let i = 0; i < 6; i++) {
    const userId = await user(`owner${i}`);
    const [agent] = await knex('agents').insert({ owner_id: userId, name: `agent ${i}` }).returning('id');
    await knex('agent_wallets').insert({ user_id: userId, stripe_account_id: `acct_prop_${i}` });
    owners.push({ userId, agentId: agent.id });
  }
});
afterAll(async () => knex.destroy());

type Ending = 'fail-before-capture' | 'fail-after-capture' | 'settle' | 'settle-then-refund' | 'settle-then-dispute';
interface Lifecycle {
  owner: number;
  priceCents: number;
  feeBps: number;
  ending: Ending;
  retries: number;
  withdrawals: number[];
}

const lifecycle = fc.record({
  owner: fc.integer({ min: 0, max: 5 }),
  priceCents: fc.integer({ min: 1, max: 500_000 }),
  feeBps: fc.integer({ min: 0, max: 3_000 }),
  ending: fc.constantFrom<Ending>('fail-before-capture', 'fail-after-capture', 'settle', 'settle-then-refund', 'settle-then-dispute'),
  retries: fc.integer({ min: 0, max: 2 }),
  withdrawals: fc.array(fc.integer({ min: 1, max: 600_000 }), { maxLength: 3 }),
});

async function run(l: Lifecycle): Promise<void> {
  const { userId, agentId } = owners[l.owner]!;
  const contractId = randomUUID();
  touched.add(contractId);
  await knex('contracts').insert({
    id: contractId,
    user_id: payer,
    workflow_id: `contract-${contractId}`,
    intent: 'property',
    reward_cents: l.priceCents,
    status: 'IN_PROGRESS',
    weights: '{}',
    bidding_deadline: new Date(),
    delivery_window_seconds: 60,
    review_window_seconds: 60,
  });
  const pi = `pi_prop_${contractId}`;
  const [payment] = await knex('payments')
    .insert({ contract_id: contractId, user_id: payer, agent_id: agentId, stripe_payment_intent_id: pi, idempotency_key: `prop-${contractId}/hold`, amount_cents: l.priceCents, currency: 'usd', status: 'authorized' })
    .returning('id');
  const times = <T>(f: () => Promise<T>) => Promise.all(Array.from({ length: 1 + l.retries }, f)); // retries arrive concurrently

  if (l.ending === 'fail-before-capture') return; // a void: no money moved
  // Capture, as captureEscrow writes it (the payment row and the movement together).
  await times(() =>
    knex.transaction(async (trx) => {
      await trx('payments').where({ id: payment.id }).forUpdate().first();
      const { applied } = await postLedger(trx, { idempotencyKey: `prop-${contractId}/capture`, kind: 'capture', description: 'capture', currency: 'usd', contractId, paymentId: payment.id, lines: captureMovement(contractId, l.priceCents) });
      if (applied) await trx('payments').where({ id: payment.id }).update({ status: 'captured', captured_cents: l.priceCents });
    }),
  );
  if (l.ending === 'fail-after-capture') {
    await times(() =>
      knex.transaction((trx) =>
        postLedger(trx, { idempotencyKey: `prop-${contractId}/refund`, kind: 'refund', description: 'refund', currency: 'usd', contractId, lines: refundMovement(contractId, l.priceCents) }),
      ),
    );
    return;
  }
  const configured = createEscrowActivities({ knex, stripe: createStripe(config), config: { ...config, PLATFORM_FEE_BPS: l.feeBps } });
  await times(() => configured.settleContract({ contractId, agentId, priceCents: l.priceCents, currency: 'usd', idempotencyKey: `prop-${contractId}/settle`, closedAt: new Date().toISOString() }));

  const withdrawals = l.withdrawals.map((amount, i) =>
    reserveWithdrawal(knex, { userId, amountCents: amount, idempotencyKey: `prop-${contractId}/w${i}` }).catch((err) => {
      if (!(err instanceof WithdrawalRefused)) throw err;
    }),
  );
  if (l.ending === 'settle-then-refund' || l.ending === 'settle-then-dispute') {
    const kind = l.ending === 'settle-then-refund' ? 'refunded' : 'disputed';
    withdrawals.push(times(() => reversals.applyPaymentReversal({ paymentIntentId: pi, kind, eventId: `evt_prop_${contractId}` })).then(() => undefined));
  }
  await Promise.all(withdrawals);
}

async function invariants() {
  const unbalanced = await knex('ledger_entries').groupBy('transaction_id').havingRaw('sum(amount_cents) <> 0').count({ n: '*' });
  expect(unbalanced).toEqual([]);
  const [total] = await knex('ledger_entries').sum({ s: 'amount_cents' });
  expect(Number(total!.s ?? 0)).toBe(0);
  const wallets = await knex('agent_wallets as w')
    .whereIn('w.user_id', owners.map((o) => o.userId))
    .select('w.user_id', 'w.balance_cents', knex.raw("(SELECT coalesce(sum(amount_cents), 0) FROM ledger_entries e WHERE e.account = 'agent_wallet' AND e.account_id = w.user_id) AS ledger"));
  for (const w of wallets) {
    expect(Number(w.balance_cents)).toBe(Number(w.ledger));
    expect(Number(w.balance_cents)).toBeGreaterThanOrEqual(0);
  }
  const escrows = await knex('ledger_entries')
    .where({ account: 'user_escrow' })
    .whereIn('account_id', [...touched])
    .groupBy('account_id')
    .havingRaw('sum(amount_cents) <> 0')
    .select('account_id');
  expect(escrows).toEqual([]);
}

describe('the ledger under random lifecycles', () => {
  it(`stays balanced and never overdraws a wallet (${RUNS * BATCH} lifecycles)`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(lifecycle, { minLength: BATCH, maxLength: BATCH }), async (batch) => {
        await Promise.all(batch.map(run));
        await invariants();
      }),
      { numRuns: RUNS },
    );
    const [kinds] = await knex('ledger_transactions').whereIn('contract_id', [...touched]).select(knex.raw("count(*) FILTER (WHERE kind = 'clawback') AS clawbacks, count(*) FILTER (WHERE kind = 'settlement') AS settlements"));
    // The generator really reached the interesting paths.
    expect(Number(kinds.clawbacks)).toBeGreaterThan(0);
    expect(Number(kinds.settlements)).toBeGreaterThan(RUNS);
    const [w] = await knex('ledger_transactions').whereIn('withdrawal_id', knex('withdrawals').whereIn('user_id', owners.map((o) => o.userId)).select('id')).count({ n: '*' });
    expect(Number(w!.n)).toBeGreaterThan(0);
  }, 300_000);
});
