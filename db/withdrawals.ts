import type { Knex } from 'knex';
import { allocateWithdrawal, withdrawalMovement } from '../domain/ledger';
import { requestHash } from '../lib/request-hash';
import { postLedger } from './ledger';

export class WithdrawalRefused extends Error {
  constructor(
    readonly code: 'INSUFFICIENT_FUNDS' | 'PAYOUT_ACCOUNT_REQUIRED',
    message: string,
  ) {
    super(message);
  }
}

/**
 * Reserves a withdrawal: in one transaction, with the owner's wallet row locked (so
 * concurrent withdrawals queue here and cannot overdraw), checks the balance, debits the
 * wallet in the ledger, and splits the amount over the contracts it was earned on, oldest
 * first, one future Connect transfer each.
 *
 * The same idempotency key returns the first withdrawal (created: false) with the hash of the
 * request that created it, whatever the balance is now; the caller compares that hash with its
 * own (api/idempotency.ts). The wallet lock is taken before the key is looked up, so two
 * requests with one key queue on it and the second sees the first's row; a refused request
 * stores nothing, so its key stays free. The unique (user_id, idempotency_key) is the backstop.
 * requestHash defaults to the hash of the request body POST /wallet/withdrawals would send.
 */
export async function reserveWithdrawal(
  knex: Knex,
  req: { userId: string; amountCents: number; idempotencyKey: string; requestHash?: string },
): Promise<{ withdrawalId: string; created: boolean; requestHash: string }> {
  const hash = req.requestHash ?? requestHash({ amount_cents: req.amountCents });
  return knex.transaction(async (trx) => {
    const wallet = await trx('agent_wallets').where({ user_id: req.userId }).forUpdate().first();
    const existing = await trx('withdrawals').where({ user_id: req.userId, idempotency_key: req.idempotencyKey }).first('id', 'request_hash');
    if (existing) return { withdrawalId: existing.id, created: false, requestHash: existing.request_hash };
    if (!wallet?.stripe_account_id) throw new WithdrawalRefused('PAYOUT_ACCOUNT_REQUIRED', 'set up a payout account first (POST /wallet/payout-account)');
    const balance = Number(wallet.balance_cents);
    if (req.amountCents > balance) {
      throw new WithdrawalRefused('INSUFFICIENT_FUNDS', `amount_cents ${req.amountCents} exceeds the available ${balance}`);
    }
    const earnings = await trx
      .with('earned', (q) =>
        q
          .from('ledger_entries as e')
          .join('ledger_transactions as t', 't.id', 'e.transaction_id')
          .where({ 'e.account': 'agent_wallet', 'e.account_id': req.userId })
          .whereIn('t.kind', ['settlement', 'clawback'])
          .groupBy('e.contract_id')
          .select('e.contract_id', trx.raw('sum(e.amount_cents) AS earned'), trx.raw('min(e.created_at) AS first_at')),
      )
      .with('paid', (q) =>
        q
          .from('withdrawal_transfers as wt')
          .join('withdrawals as w', 'w.id', 'wt.withdrawal_id')
          .where('w.user_id', req.userId)
          .whereNull('wt.reversed_at')
          .groupBy('wt.contract_id')
          .select('wt.contract_id', trx.raw('sum(wt.amount_cents) AS paid')),
      )
      .from('earned')
      .leftJoin('paid', 'paid.contract_id', 'earned.contract_id')
      .select('earned.contract_id', trx.raw('earned.earned - coalesce(paid.paid, 0) AS remaining'))
      .orderBy('earned.first_at');
    const parts = allocateWithdrawal(
      req.amountCents,
      earnings.map((e: { contract_id: string; remaining: string }) => ({ contractId: e.contract_id, remainingCents: Number(e.remaining) })),
    );
    const [withdrawal] = await trx('withdrawals')
      .insert({
        user_id: req.userId,
        amount_cents: req.amountCents,
        currency: wallet.currency.trim(),
        idempotency_key: req.idempotencyKey,
        request_hash: hash,
        stripe_account_id: wallet.stripe_account_id,
      })
      .returning('id');
    await trx('withdrawal_transfers').insert(
      parts.map((p, position) => ({
        withdrawal_id: withdrawal.id,
        contract_id: p.contractId,
        amount_cents: p.amountCents,
        transfer_group: `contract-${p.contractId}`,
        position,
      })),
    );
    await postLedger(trx, {
      idempotencyKey: `withdrawal/${withdrawal.id}`,
      kind: 'withdrawal',
      description: `withdrawal to ${wallet.stripe_account_id}`,
      currency: wallet.currency.trim(),
      withdrawalId: withdrawal.id,
      lines: withdrawalMovement(req.userId, req.amountCents),
    });
    return { withdrawalId: withdrawal.id, created: true, requestHash: hash };
  });
}
