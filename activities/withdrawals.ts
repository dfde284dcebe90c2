import { ApplicationFailure } from '@temporalio/activity';
import type { Knex } from 'knex';
import Stripe from 'stripe';
import { postLedger } from '../db/ledger';
import { withdrawalReversalMovement } from '../domain/ledger';

// Pays out a reserved withdrawal (db/withdrawals.ts): one Stripe Connect transfer per
// contract it draws on, in that contract's transfer group, each with its own idempotency key.
// A transfer Stripe refuses goes back to the wallet; network faults are retried.
export function createWithdrawalActivities({ knex, stripe }: { knex: Knex; stripe: Stripe }) {
  return {
    async payoutWithdrawal(withdrawalId: string): Promise<'paid' | 'failed'> {
      const w = await knex('withdrawals').where({ id: withdrawalId }).first();
      if (!w) throw ApplicationFailure.nonRetryable(`no withdrawal ${withdrawalId}`, 'WITHDRAWAL_NOT_FOUND');
      if (w.status !== 'pending') return w.status;
      const parts = await knex('withdrawal_transfers').where({ withdrawal_id: withdrawalId }).orderBy('position');
      const refusals: string[] = [];
      for (const part of parts.filter((p) => !p.stripe_transfer_id && !p.reversed_at)) {
        try {
          const transfer = await stripe.transfers.create(
            {
              amount: Number(part.amount_cents),
              currency: w.currency.trim(),
              destination: w.stripe_account_id,
              transfer_group: part.transfer_group,
              metadata: { withdrawal_id: withdrawalId, contract_id: part.contract_id },
            },
            { idempotencyKey: `withdrawal-${withdrawalId}/${part.contract_id}` },
          );
          await knex('withdrawal_transfers').where({ id: part.id }).update({ stripe_transfer_id: transfer.id });
        } catch (err) {
          if (!(err instanceof Stripe.errors.StripeInvalidRequestError || err instanceof Stripe.errors.StripePermissionError)) throw err;
          refusals.push(err.message);
          await knex.transaction(async (trx) => {
            await trx('withdrawal_transfers').where({ id: part.id }).update({ reversed_at: trx.fn.now() });
            await postLedger(trx, {
              idempotencyKey: `withdrawal/${withdrawalId}/${part.contract_id}/reversal`,
              kind: 'withdrawal_reversal',
              description: `transfer refused by Stripe: ${err.message}`,
              currency: w.currency.trim(),
              withdrawalId,
              lines: withdrawalReversalMovement(w.user_id, Number(part.amount_cents)),
            });
          });
        }
      }
      const after = await knex('withdrawal_transfers').where({ withdrawal_id: withdrawalId });
      const status = after.every((p) => p.reversed_at) ? 'failed' : 'paid';
      await knex('withdrawals')
        .where({ id: withdrawalId })
        .update({ status, failure: refusals.length ? refusals.join('; ') : null });
      return status;
    },
  };
}
