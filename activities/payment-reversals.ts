import type { Knex } from 'knex';
import { postLedger } from '../db/ledger';
import { clawbackMovement, refundMovement } from '../domain/ledger';
import { auditPayment } from './escrow';

export interface PaymentReversal {
  paymentIntentId: string;
  kind: 'refunded' | 'disputed';
  /** The Stripe event that reported it: the ledger key, so a redelivery adds nothing. */
  eventId: string;
}

// A refund or dispute reported by Stripe (not started by Hermes). Before settlement the money
// leaves the contract's escrow; after settlement the payout this contract credited is clawed
// back from the owner's wallet as far as its balance goes and the platform absorbs the rest
// (domain/ledger.ts clawbackMovement), so no wallet goes negative.
export function createPaymentReversalActivities({ knex }: { knex: Knex }) {
  return {
    async applyPaymentReversal(r: PaymentReversal): Promise<'applied' | 'nothing to reverse'> {
      return knex.transaction(async (trx) => {
        const p = await trx('payments').where({ stripe_payment_intent_id: r.paymentIntentId }).forUpdate().first();
        if (!p || p.status !== 'captured') return 'nothing to reverse';
        const amount = Number(p.captured_cents) - Number(p.refunded_cents);
        if (amount <= 0) return 'nothing to reverse';
        const settled = await trx('ledger_transactions').where({ contract_id: p.contract_id, kind: 'settlement' }).first('id');
        let lines;
        if (settled) {
          const owner = await trx('agents').where({ id: p.agent_id }).first('owner_id');
          const wallet = await trx('agent_wallets').where({ user_id: owner.owner_id }).forUpdate().first('balance_cents');
          // What this contract actually credited the owner (the payout, after the fee), not the price.
          const [paid] = await trx('ledger_entries as e')
            .join('ledger_transactions as t', 't.id', 'e.transaction_id')
            .where({ 'e.account': 'agent_wallet', 'e.account_id': owner.owner_id, 'e.contract_id': p.contract_id })
            .whereIn('t.kind', ['settlement', 'clawback'])
            .sum({ total: 'e.amount_cents' });
          lines = clawbackMovement(owner.owner_id, amount, Number(paid?.total ?? 0), Number(wallet?.balance_cents ?? 0));
        } else {
          lines = refundMovement(p.contract_id, amount);
        }
        const posted = await postLedger(trx, {
          idempotencyKey: `stripe-event/${r.eventId}`,
          kind: settled ? 'clawback' : 'refund',
          description: `payment ${r.kind} at Stripe (${r.eventId})`,
          currency: p.currency.trim(),
          contractId: p.contract_id,
          paymentId: p.id,
          lines,
        });
        await trx('payments').where({ id: p.id }).update({ status: r.kind, refunded_cents: Number(p.captured_cents), last_error: `${r.kind} at Stripe` });
        await trx('payment_events')
          .insert({ payment_id: p.id, contract_id: p.contract_id, user_id: p.user_id, kind: r.kind, amount_cents: amount, detail: r.eventId })
          .onConflict(['payment_id', 'kind'])
          .ignore();
        await auditPayment(trx, p, r.kind, amount, { detail: `stripe event ${r.eventId}`, ledger_transaction_id: posted.transactionId, source: 'stripe' });
        return 'applied';
      });
    },
  };
}
