import Router from '@koa/router';
import { z } from 'zod';
import { WithdrawalRefused, reserveWithdrawal } from '../../db/withdrawals';
import { splitPlatformFee } from '../../domain/money';
import { withdrawalWorkflow } from '../../workflows/withdrawal';
import { currentUserId } from '../auth';
import type { ApiDeps } from '../deps';
import { HttpError, notFound } from '../errors';
import { REPLAYED_HEADER, assertSameRequest, idempotentCreate, requestHash } from '../idempotency';
import { afterCursor, pageOf } from '../pagination';
import { cents, intFromText, parse, pathId } from '../validate';

export const withdrawBody = z.strictObject({ amount_cents: cents.min(1, 'must be positive') });
export const idempotencyKey = z.string().max(200).trim().min(8);
export const listQuery = z.object({
  limit: intFromText(z.number().int().min(1).max(100)).default(50),
  cursor: z.string().max(200).optional(),
});

const iso = (d: Date | null) => (d ? new Date(d).toISOString() : null);

// A withdrawal row with its transfers in order (as JSON: amounts are numbers, times text).
const WITHDRAWALS_SQL = `
SELECT w.*, coalesce((SELECT json_agg(t ORDER BY t.position) FROM withdrawal_transfers t WHERE t.withdrawal_id = w.id), '[]') AS transfers
FROM withdrawals w`;

function withdrawalRowJson(w: Record<string, any>) {
  return {
    id: w.id,
    amount_cents: Number(w.amount_cents),
    currency: w.currency.trim(),
    status: w.status,
    payout_account: w.stripe_account_id,
    failure: w.failure,
    transfers: (w.transfers as Array<Record<string, any>>).map((t) => ({
      contract_id: t.contract_id,
      amount_cents: Number(t.amount_cents),
      transfer_group: t.transfer_group,
      stripe_transfer_id: t.stripe_transfer_id,
      reversed: t.reversed_at !== null,
    })),
    created_at: iso(w.created_at),
    updated_at: iso(w.updated_at),
  };
}

// An agent owner's earnings: the wallet is the ledger's agent_wallet account for the user.
export function walletRouter({ knex, stripe, temporal, auth, config }: ApiDeps): Router {
  const r = new Router({ prefix: '/wallet' });
  r.use(auth.requireUser);

  // balance: what can be withdrawn now (the ledger's sum, cached on the wallet row);
  // pending: what open contracts already paid for in escrow will bring, after fees;
  // lifetime: everything ever credited by settlements, less clawbacks.
  r.get('/', async (ctx) => {
    const userId = currentUserId(ctx);
    const wallet = await knex('agent_wallets').where({ user_id: userId }).first();
    const [lifetime] = await knex('ledger_entries as e')
      .join('ledger_transactions as t', 't.id', 'e.transaction_id')
      .where({ 'e.account': 'agent_wallet', 'e.account_id': userId })
      .whereIn('t.kind', ['settlement', 'clawback'])
      .sum({ total: 'e.amount_cents' });
    const open = await knex('contracts as c')
      .join('agents as a', 'a.id', 'c.awarded_agent_id')
      .join('payments as p', 'p.contract_id', 'c.id')
      .where('a.owner_id', userId)
      .whereIn('c.status', ['AWARDED', 'IN_PROGRESS', 'DELIVERED'])
      .whereIn('p.status', ['authorized', 'captured'])
      .select('c.awarded_price_cents');
    const pending = open.reduce((s, c) => s + splitPlatformFee(Number(c.awarded_price_cents), config.PLATFORM_FEE_BPS).payoutCents, 0);
    ctx.body = {
      currency: wallet?.currency.trim() ?? config.CURRENCY,
      balance_cents: Number(wallet?.balance_cents ?? 0),
      pending_cents: pending,
      lifetime_earnings_cents: Number(lifetime?.total ?? 0),
      payout_account: wallet?.stripe_account_id ?? null,
    };
  });

  r.get('/transactions', async (ctx) => {
    const q = parse(listQuery, ctx.query);
    let query = knex('ledger_entries as e')
      .join('ledger_transactions as t', 't.id', 'e.transaction_id')
      .where({ 'e.account': 'agent_wallet', 'e.account_id': currentUserId(ctx) })
      .select('e.id', 'e.transaction_id', 't.kind', 'e.amount_cents', 'e.currency', 'e.contract_id', 't.withdrawal_id', 'e.description', 'e.created_at')
      .orderBy([{ column: 'e.created_at', order: 'desc' }, { column: 'e.id', order: 'desc' }])
      .limit(q.limit + 1);
    query = afterCursor(query, q.cursor, { table: 'e' });
    const { page, next_cursor } = pageOf(await query, q.limit);
    ctx.body = {
      data: page.map((e) => ({
        id: e.id,
        transaction_id: e.transaction_id,
        kind: e.kind,
        amount_cents: Number(e.amount_cents),
        currency: e.currency.trim(),
        contract_id: e.contract_id,
        withdrawal_id: e.withdrawal_id,
        description: e.description,
        created_at: iso(e.created_at),
      })),
      next_cursor,
    };
  });

  // A Stripe Connect (Express) account to pay out to; created once (later calls answer 200
  // with it). With an Idempotency-Key a retry gets the first answer, 201 included.
  r.post('/payout-account', async (ctx) => {
    const userId = currentUserId(ctx);
    await idempotentCreate({ knex, config }, ctx, { caller: { kind: 'user', id: userId }, route: 'POST /wallet/payout-account', request: null }, async (db) => {
      const existing = await db('agent_wallets').where({ user_id: userId }).first('stripe_account_id');
      if (existing?.stripe_account_id) return { status: 200, body: { payout_account: existing.stripe_account_id } };
      const user = await db('users').where({ id: userId }).first('email');
      const account = await stripe.accounts.create(
        { type: 'express', email: user.email, capabilities: { transfers: { requested: true } }, metadata: { hermes_user_id: userId } },
        { idempotencyKey: `user-${userId}/payout-account` },
      );
      await db('agent_wallets')
        .insert({ user_id: userId, currency: config.CURRENCY, stripe_account_id: account.id })
        .onConflict('user_id')
        .merge({ stripe_account_id: db.raw('coalesce(agent_wallets.stripe_account_id, excluded.stripe_account_id)') });
      const stored = await db('agent_wallets').where({ user_id: userId }).first('stripe_account_id');
      return { status: 201, body: { payout_account: stored.stripe_account_id } };
    });
  });

  // Withdraw to the payout account. Send an Idempotency-Key header (Stripe's rule): a retry
  // with the same key and the same body answers as the first did (202, the same withdrawal as
  // it is now, Idempotent-Replayed: true) instead of paying twice; the same key with a
  // different body is a 422 IDEMPOTENCY_KEY_REUSED and creates nothing. A refused request
  // (400/409) stores nothing, so its key can be used again.
  r.post('/withdrawals', async (ctx) => {
    const userId = currentUserId(ctx);
    const key = idempotencyKey.safeParse(ctx.get('Idempotency-Key'));
    if (!key.success) {
      throw new HttpError('VALIDATION_ERROR', 'Idempotency-Key: send a unique key (8-200 characters) per withdrawal', [{ field: 'Idempotency-Key' }]);
    }
    const body = parse(withdrawBody, ctx.request.body);
    const hash = requestHash(body);
    let reserved;
    try {
      reserved = await reserveWithdrawal(knex, { userId, amountCents: body.amount_cents, idempotencyKey: key.data, requestHash: hash });
    } catch (err) {
      if (err instanceof WithdrawalRefused) throw new HttpError(err.code, err.message, [{ field: 'amount_cents' }]);
      throw err;
    }
    if (!reserved.created) assertSameRequest(reserved.requestHash, hash);
    await temporal.workflow
      .start(withdrawalWorkflow, {
        taskQueue: config.TEMPORAL_TASK_QUEUE,
        workflowId: `withdrawal-${reserved.withdrawalId}`,
        args: [reserved.withdrawalId],
        staticSummary: `Withdrawal of ${body.amount_cents} cents`,
      })
      .catch((err: Error) => {
        if (err.name !== 'WorkflowExecutionAlreadyStartedError') throw err;
      });
    ctx.status = 202;
    if (!reserved.created) ctx.set(REPLAYED_HEADER, 'true');
    ctx.body = await withdrawalJson(reserved.withdrawalId);
  });

  // Lists and reads are one statement each: the withdrawals with their transfers as JSON.
  r.get('/withdrawals', async (ctx) => {
    const { rows } = await knex.raw(`${WITHDRAWALS_SQL} WHERE w.user_id = ? ORDER BY w.created_at DESC LIMIT 50`, [currentUserId(ctx)]);
    ctx.body = { data: rows.map(withdrawalRowJson) };
  });

  r.get('/withdrawals/:id', async (ctx) => {
    const id = pathId(ctx.params.id);
    const { rows } = await knex.raw(`${WITHDRAWALS_SQL} WHERE w.id = ? AND w.user_id = ?`, [id, currentUserId(ctx)]);
    if (!rows[0]) throw notFound('withdrawal');
    ctx.body = withdrawalRowJson(rows[0]);
  });

  async function withdrawalJson(id: string) {
    const { rows } = await knex.raw(`${WITHDRAWALS_SQL} WHERE w.id = ?`, [id]);
    return withdrawalRowJson(rows[0]);
  }

  return r;
}
