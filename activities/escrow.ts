import { ApplicationFailure } from '@temporalio/activity';
import type { Knex } from 'knex';
import Stripe from 'stripe';
import { lockContract, transitionContract } from '../db/contract-transition';
import { postLedger } from '../db/ledger';
import type { PaymentView } from '../domain/contract-types';
import { captureMovement, refundMovement, settlementMovement } from '../domain/ledger';
import type { PaymentEventKind, PaymentStatus } from '../domain/statuses';
import type { Config } from '../lib/config';
import { activityMetrics, countEnded, timedEscrow, type ActivityMetrics } from '../lib/metrics';
import { ensureCustomer } from '../lib/stripe-customers';
import { appendAudit } from '../lib/audit';
import { splitPlatformFee } from '../domain/money';
import type { AuditKind } from '../domain/audit';
import { Registry } from 'prom-client';
import { recordAgentMetricIn, type AgentMetricInput } from './metrics';

export interface CaptureInput {
  paymentIntentId: string;
  amountCents: number;
  /** Derived from the workflow id and the round, like every escrow step's. */
  idempotencyKey: string;
}

export interface HoldEscrowInput {
  contractId: string;
  userId: string;
  agentId: string;
  amountCents: number;
  currency: string;
  /** Derived from the workflow id and the step, so a retried activity never charges twice. */
  idempotencyKey: string;
  /**
   * When the hold is in place at once (authorized), the work starts in the same transaction:
   * IN_PROGRESS with this delivery deadline. A hold that needs the customer's action leaves
   * the contract AWARDED.
   */
  startWork?: { deliveryDeadline: string };
}

type EscrowConfig = Pick<
  Config,
  'STRIPE_DEFAULT_PAYMENT_METHOD' | 'PLATFORM_FEE_BPS' | 'ESCROW_CAPTURE_AFTER_SECONDS' | 'ESCROW_ACTION_TIMEOUT_SECONDS'
>;

interface PaymentRow {
  id: string;
  contract_id: string;
  user_id: string;
  stripe_payment_intent_id: string;
  amount_cents: number;
  captured_cents: number;
  refunded_cents: number;
  currency: string;
  status: PaymentStatus;
  capture_by: Date | null;
}

// Escrow is a PaymentIntent with manual capture on the user's default payment method:
// authorised at award, captured at settlement (or earlier, before the hold lapses), voided on
// a failure exit before capture and refunded after it. Every Stripe call carries an
// idempotency key from the workflow id and the step; every state is a payments row plus a
// payment_events row; every movement of money is a ledger transaction written in the same
// database transaction as the state it belongs to. stripe-mock is stateless, so these rows
// are the state of record.
export function createEscrowActivities({
  knex,
  stripe,
  config,
  metrics = activityMetrics(new Registry()),
}: {
  knex: Knex;
  stripe: Stripe;
  config: EscrowConfig;
  /** Escrow operations are counted by kind and result, and a settlement as a contract's end. */
  metrics?: Pick<ActivityMetrics, 'escrow' | 'contracts'>;
}) {
  async function lockPayment(trx: Knex.Transaction, paymentIntentId: string): Promise<PaymentRow> {
    const row = await trx('payments').where({ stripe_payment_intent_id: paymentIntentId }).forUpdate().first();
    if (!row) throw ApplicationFailure.nonRetryable(`no payment ${paymentIntentId}`, 'PAYMENT_NOT_FOUND');
    return row;
  }

  // Each escrow step is a payment_events row and a record in the contract's audit chain, both
  // keyed by payment and kind, so a retried step writes neither twice. Called last in the step's
  // transaction (after its ledger posting, whose id it records).
  async function recordEvent(
    trx: Knex.Transaction,
    p: PaymentRow,
    kind: PaymentEventKind,
    amountCents: number,
    detail: string | null = null,
    ledgerTransactionId: string | null = null,
  ) {
    await trx('payment_events')
      .insert({ payment_id: p.id, contract_id: p.contract_id, user_id: p.user_id, kind, amount_cents: amountCents, detail })
      .onConflict(['payment_id', 'kind'])
      .ignore();
    await auditPayment(trx, p, kind, amountCents, { detail, ledger_transaction_id: ledgerTransactionId, source: 'hermes' });
  }

  async function paymentMethodFor(userId: string): Promise<string> {
    const saved = await knex('payment_methods').where({ user_id: userId, is_default: true }).whereNull('deleted_at').first();
    if (saved) return saved.stripe_payment_method_id;
    if (config.STRIPE_DEFAULT_PAYMENT_METHOD) return config.STRIPE_DEFAULT_PAYMENT_METHOD;
    throw ApplicationFailure.nonRetryable('the user has no default payment method', 'PAYMENT_METHOD_REQUIRED');
  }

  const stripeFailure = (err: unknown): never => {
    if (err instanceof Stripe.errors.StripeCardError) {
      throw ApplicationFailure.nonRetryable(err.message, 'PAYMENT_DECLINED', { code: err.code });
    }
    if (err instanceof Stripe.errors.StripeInvalidRequestError) {
      throw ApplicationFailure.nonRetryable(err.message, 'PAYMENT_INVALID', { param: err.param });
    }
    throw err;
  };

  /** The capture at Stripe, unless the payment's row already says captured (a retry after the commit). */
  async function captureAtStripe(input: CaptureInput): Promise<void> {
    const current = await knex('payments').where({ stripe_payment_intent_id: input.paymentIntentId }).first('status');
    if (current?.status === 'captured') return;
    await stripe.paymentIntents
      .capture(input.paymentIntentId, { amount_to_capture: input.amountCents }, { idempotencyKey: input.idempotencyKey })
      .catch(stripeFailure);
  }

  /** The capture in the books: the payment row, the ledger's movement and the audit record, once. */
  async function markCaptured(trx: Knex.Transaction, input: CaptureInput): Promise<PaymentView> {
    const p = await lockPayment(trx, input.paymentIntentId);
    if (p.status === 'captured') return toView(p, config);
    const [row] = await trx('payments').where({ id: p.id }).update({ status: 'captured', captured_cents: input.amountCents }).returning('*');
    const posted = await postLedger(trx, {
      idempotencyKey: input.idempotencyKey,
      kind: 'capture',
      description: `escrow captured for contract ${p.contract_id}`,
      currency: p.currency.trim(),
      contractId: p.contract_id,
      paymentId: p.id,
      lines: captureMovement(p.contract_id, input.amountCents),
    });
    await recordEvent(trx, p, 'captured', input.amountCents, null, posted.transactionId);
    return toView(row, config);
  }

  const escrow = {
    async holdEscrow(input: HoldEscrowInput): Promise<PaymentView> {
      const existing = await knex('payments').where({ idempotency_key: input.idempotencyKey }).first();
      if (existing) return toView(existing, config);
      const customer = await ensureCustomer(knex, stripe, input.userId);
      const paymentMethod = await paymentMethodFor(input.userId);
      const intent = await stripe.paymentIntents
        .create(
          {
            amount: input.amountCents,
            currency: input.currency,
            customer,
            payment_method: paymentMethod,
            capture_method: 'manual',
            confirm: true,
            off_session: false,
            // Escrow is confirmed server-side: no redirect-based methods.
            automatic_payment_methods: { enabled: true, allow_redirects: 'never' },
            // Payouts to the agent's owner are transfers in this group (separate charges and transfers).
            transfer_group: `contract-${input.contractId}`,
            description: `Hermes escrow for contract ${input.contractId}`,
            metadata: { contract_id: input.contractId, agent_id: input.agentId, user_id: input.userId },
          },
          { idempotencyKey: input.idempotencyKey },
        )
        .catch(stripeFailure);
      const status: PaymentStatus = intent.status === 'requires_action' ? 'requires_action' : 'authorized';
      const captureBy = new Date(Date.now() + config.ESCROW_CAPTURE_AFTER_SECONDS * 1000);
      return knex.transaction(async (trx) => {
        const contractStatus = await lockContract(trx, input.contractId); // the contract's row first, as everywhere
        const [row] = await trx('payments')
          .insert({
            contract_id: input.contractId,
            user_id: input.userId,
            agent_id: input.agentId,
            stripe_payment_intent_id: intent.id,
            stripe_payment_method_id: paymentMethod,
            idempotency_key: input.idempotencyKey,
            amount_cents: input.amountCents,
            currency: input.currency,
            status,
            capture_by: captureBy,
          })
          .onConflict('idempotency_key')
          .merge(['updated_at'])
          .returning('*');
        await recordEvent(trx, row, status, input.amountCents);
        // Only from AWARDED: an attempt that timed out and commits late must not reopen a contract
        // that has since ended.
        if (status === 'authorized' && input.startWork && contractStatus === 'AWARDED') {
          await transitionContract(trx, input.contractId, 'IN_PROGRESS', { deliveryDeadline: input.startWork.deliveryDeadline }, { status: contractStatus });
        }
        return toView(row, config);
      });
    },

    /** The customer completed the required action (webhook): the hold is in place. */
    async confirmEscrow(paymentIntentId: string): Promise<PaymentView> {
      return knex.transaction(async (trx) => {
        const p = await lockPayment(trx, paymentIntentId);
        if (p.status !== 'requires_action') return toView(p, config);
        const [row] = await trx('payments').where({ id: p.id }).update({ status: 'authorized' }).returning('*');
        await recordEvent(trx, p, 'authorized', p.amount_cents);
        return toView(row, config);
      });
    },

    /** The payment failed or was cancelled outside Hermes (webhook) before any capture. */
    async failEscrow(input: { paymentIntentId: string; reason: string }): Promise<PaymentView> {
      return knex.transaction(async (trx) => {
        const p = await lockPayment(trx, input.paymentIntentId);
        if (p.status !== 'requires_action' && p.status !== 'authorized') return toView(p, config);
        const [row] = await trx('payments').where({ id: p.id }).update({ status: 'failed', last_error: input.reason }).returning('*');
        await recordEvent(trx, p, 'failed', p.amount_cents, input.reason);
        return toView(row, config);
      });
    },

    /** Captures the hold: early, before it lapses (the workflow's detached branch). Settlement captures in its own transaction. */
    async captureEscrow(input: CaptureInput): Promise<PaymentView> {
      await captureAtStripe(input);
      return knex.transaction((trx) => markCaptured(trx, input));
    },

    async voidEscrow(input: { paymentIntentId: string; idempotencyKey: string; reason: string }): Promise<PaymentView> {
      const current = await knex('payments').where({ stripe_payment_intent_id: input.paymentIntentId }).first();
      if (current && current.status !== 'authorized' && current.status !== 'requires_action') return toView(current, config);
      await stripe.paymentIntents
        .cancel(input.paymentIntentId, { cancellation_reason: 'abandoned' }, { idempotencyKey: input.idempotencyKey })
        .catch(stripeFailure);
      return knex.transaction(async (trx) => {
        const p = await lockPayment(trx, input.paymentIntentId);
        if (p.status === 'voided') return toView(p, config);
        const [row] = await trx('payments').where({ id: p.id }).update({ status: 'voided', last_error: input.reason }).returning('*');
        await recordEvent(trx, p, 'voided', p.amount_cents, input.reason);
        return toView(row, config);
      });
    },

    /** After capture, a failure exit gives the user their money back. */
    async refundEscrow(input: { paymentIntentId: string; idempotencyKey: string; reason: string }): Promise<PaymentView> {
      const current = await knex('payments').where({ stripe_payment_intent_id: input.paymentIntentId }).first();
      if (current?.status === 'refunded') return toView(current, config);
      const amount = Number(current?.captured_cents ?? 0) - Number(current?.refunded_cents ?? 0);
      await stripe.refunds
        .create({ payment_intent: input.paymentIntentId, amount, metadata: { reason: input.reason } }, { idempotencyKey: input.idempotencyKey })
        .catch(stripeFailure);
      return knex.transaction(async (trx) => {
        const p = await lockPayment(trx, input.paymentIntentId);
        if (p.status === 'refunded') return toView(p, config);
        const [row] = await trx('payments')
          .where({ id: p.id })
          .update({ status: 'refunded', refunded_cents: amount, last_error: input.reason })
          .returning('*');
        const posted = await postLedger(trx, {
          idempotencyKey: input.idempotencyKey,
          kind: 'refund',
          description: `escrow refunded for contract ${p.contract_id}: ${input.reason}`,
          currency: p.currency.trim(),
          contractId: p.contract_id,
          paymentId: p.id,
          lines: refundMovement(p.contract_id, amount),
        });
        await recordEvent(trx, p, 'refunded', amount, input.reason, posted.transactionId);
        return toView(row, config);
      });
    },

    /**
     * Settlement, one transaction: the hold's capture (when it is still a hold; the Stripe call
     * comes first, idempotent), the owner's payout less the platform fee, the agent's metric and
     * trust score, and SETTLED. There is no moment where one happened without the others.
     * Returns the payment as it stands after (null for a free contract).
     */
    async settleContract(input: {
      contractId: string;
      agentId: string;
      priceCents: number;
      currency: string;
      idempotencyKey: string;
      closedAt: string;
      /** The hold to capture; absent when there is none or it was captured early. */
      capture?: CaptureInput;
      /** The agent's success, and with it its trust score, in the same transaction. */
      metric?: AgentMetricInput;
    }): Promise<PaymentView | null> {
      if (input.capture) await captureAtStripe(input.capture);
      let payment: PaymentView | null = null;
      const changed = await knex
        .transaction(async (trx) => {
          const before = await lockContract(trx, input.contractId);
          if (input.capture) payment = await markCaptured(trx, input.capture);
          if (input.metric) await recordAgentMetricIn(trx, input.metric);
          const { feeCents, payoutCents } = splitPlatformFee(input.priceCents, config.PLATFORM_FEE_BPS);
          const settlement = {
            agent_id: input.agentId,
            price_cents: input.priceCents,
            currency: input.currency,
            platform_fee_bps: config.PLATFORM_FEE_BPS,
            fee_cents: feeCents,
            payout_cents: payoutCents,
            owner_id: null as string | null,
            payment_id: null as string | null,
            ledger_transaction_id: null as string | null,
            closed_at: input.closedAt,
          };
          if (input.priceCents > 0) {
            const agent = await trx('agents').where({ id: input.agentId }).first('owner_id');
            const payment = await trx('payments').where({ contract_id: input.contractId, status: 'captured' }).first('id');
            settlement.owner_id = agent.owner_id;
            settlement.payment_id = payment?.id ?? null;
            const posted = await postLedger(trx, {
              idempotencyKey: input.idempotencyKey,
              kind: 'settlement',
              description: `contract ${input.contractId} settled`,
              currency: input.currency,
              contractId: input.contractId,
              paymentId: payment?.id ?? null,
              lines: settlementMovement(input.contractId, agent.owner_id, input.priceCents, config.PLATFORM_FEE_BPS),
            });
            settlement.ledger_transaction_id = posted.transactionId;
          }
          await appendAudit(trx, input.contractId, 'settlement', settlement, 'settlement');
          return transitionContract(trx, input.contractId, 'SETTLED', { closedAt: input.closedAt }, { status: before });
        })
        .catch(async (err: unknown) => {
          // Stripe captured and the settlement could not be written: the capture is booked on its
          // own, so the books never show a hold that Stripe has already taken (the next attempt
          // finds it booked).
          if (input.capture) await knex.transaction((trx) => markCaptured(trx, input.capture!)).catch(() => undefined);
          throw err;
        });
      if (changed) countEnded(metrics.contracts, 'SETTLED', null);
      return payment;
    },
  };
  return {
    holdEscrow: timedEscrow(metrics.escrow, 'hold', escrow.holdEscrow),
    confirmEscrow: timedEscrow(metrics.escrow, 'confirm', escrow.confirmEscrow),
    failEscrow: timedEscrow(metrics.escrow, 'fail', escrow.failEscrow),
    captureEscrow: timedEscrow(metrics.escrow, 'capture', escrow.captureEscrow),
    voidEscrow: timedEscrow(metrics.escrow, 'void', escrow.voidEscrow),
    refundEscrow: timedEscrow(metrics.escrow, 'refund', escrow.refundEscrow),
    settleContract: timedEscrow(metrics.escrow, 'settle', escrow.settleContract),
  };
}

const AUDIT_KIND: Record<PaymentEventKind, AuditKind> = {
  requires_action: 'escrow_action_required',
  authorized: 'escrow_held',
  failed: 'escrow_failed',
  captured: 'escrow_captured',
  voided: 'escrow_voided',
  refunded: 'escrow_refunded',
  disputed: 'escrow_disputed',
};

/**
 * A payment step in the contract's audit chain (keyed by payment and kind, like payment_events).
 * Shared with the Stripe-reported reversals (activities/payment-reversals.ts).
 */
export async function auditPayment(
  trx: Knex.Transaction,
  p: Pick<PaymentRow, 'id' | 'contract_id' | 'stripe_payment_intent_id' | 'currency'>,
  kind: PaymentEventKind,
  amountCents: number,
  extra: { detail: string | null; ledger_transaction_id: string | null; source: 'hermes' | 'stripe' },
): Promise<void> {
  await appendAudit(
    trx,
    p.contract_id,
    AUDIT_KIND[kind],
    {
      payment_id: p.id,
      payment_intent_id: p.stripe_payment_intent_id,
      amount_cents: amountCents,
      currency: p.currency.trim(),
      ...extra,
    },
    `payment/${p.id}/${kind}`,
  );
}

function toView(row: PaymentRow, config: Pick<EscrowConfig, 'ESCROW_ACTION_TIMEOUT_SECONDS'>): PaymentView {
  const created = (row as { created_at?: Date }).created_at;
  return {
    paymentIntentId: row.stripe_payment_intent_id,
    amountCents: Number(row.amount_cents),
    status: row.status,
    captureBy: row.capture_by ? new Date(row.capture_by).toISOString() : null,
    actionDeadline:
      row.status === 'requires_action' && created
        ? new Date(new Date(created).getTime() + config.ESCROW_ACTION_TIMEOUT_SECONDS * 1000).toISOString()
        : null,
  };
}
