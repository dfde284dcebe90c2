import type { Knex } from 'knex';
import { assertBalanced, type LedgerLine } from '../domain/ledger';

export interface LedgerPosting {
  /** Unique per movement (workflow id + step, or the withdrawal): a repeat is a no-op. */
  idempotencyKey: string;
  kind: 'capture' | 'settlement' | 'refund' | 'clawback' | 'withdrawal' | 'withdrawal_reversal';
  description: string;
  currency: string;
  contractId?: string | null;
  paymentId?: string | null;
  withdrawalId?: string | null;
  lines: LedgerLine[];
}

/**
 * Writes one balanced movement inside the caller's transaction and keeps each touched
 * wallet's cached balance equal to its ledger sum. Returns whether it was new; a second call
 * with the same key changes nothing. A wallet driven below zero fails the whole transaction
 * (agent_wallets_nonnegative), and an unbalanced movement fails at commit (deferred trigger).
 */
export async function postLedger(trx: Knex.Transaction, p: LedgerPosting): Promise<{ transactionId: string; applied: boolean }> {
  assertBalanced(p.lines);
  // The moment of posting, not the database transaction's start: one transaction may post two
  // movements (settlement books the capture, then the payout), and histories list them in order.
  const postedAt = trx.raw('clock_timestamp()');
  const [created] = await trx('ledger_transactions')
    .insert({
      kind: p.kind,
      created_at: postedAt,
      idempotency_key: p.idempotencyKey,
      contract_id: p.contractId ?? null,
      payment_id: p.paymentId ?? null,
      withdrawal_id: p.withdrawalId ?? null,
      description: p.description,
    })
    .onConflict('idempotency_key')
    .ignore()
    .returning(['id', 'created_at']);
  if (!created) {
    const existing = await trx('ledger_transactions').where({ idempotency_key: p.idempotencyKey }).first('id');
    return { transactionId: existing.id, applied: false };
  }
  await trx('ledger_entries').insert(
    p.lines.map((l, i) => ({
      created_at: created.created_at,
      transaction_id: created.id,
      line: i + 1,
      account: l.account,
      account_id: l.accountId,
      amount_cents: l.amountCents,
      currency: p.currency,
      contract_id: p.contractId ?? null,
      payment_id: p.paymentId ?? null,
      description: p.description,
    })),
  );
  for (const l of p.lines.filter((x) => x.account === 'agent_wallet')) {
    if (l.amountCents > 0) {
      await trx('agent_wallets')
        .insert({ user_id: l.accountId, currency: p.currency, balance_cents: l.amountCents })
        .onConflict('user_id')
        .merge({ balance_cents: trx.raw('agent_wallets.balance_cents + ?', [l.amountCents]) });
    } else {
      // A debit needs an existing wallet; the check constraint refuses going below zero.
      const touched = await trx('agent_wallets')
        .where({ user_id: l.accountId })
        .update({ balance_cents: trx.raw('balance_cents + ?', [l.amountCents]) });
      if (touched === 0) throw new Error(`no wallet for ${l.accountId} to debit`);
    }
  }
  return { transactionId: created.id, applied: true };
}

/** A wallet's balance from the ledger itself (the cache must always equal this). */
export async function ledgerBalance(knex: Knex, account: LedgerLine['account'], accountId: string | null): Promise<number> {
  const q = knex('ledger_entries').where({ account }).sum({ total: 'amount_cents' });
  const [row] = await (accountId === null ? q.whereNull('account_id') : q.where({ account_id: accountId }));
  return Number(row?.total ?? 0);
}
