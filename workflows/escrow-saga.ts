import * as wf from '@temporalio/workflow';
import type { CaptureInput } from '../activities/escrow';
import type { Award, PaymentView } from '../domain/contract-types';
import { msUntil, secondsFromNow, stepKey } from './clock';
import { captureEscrow, confirmEscrow, failEscrow, holdEscrow, refundEscrow, voidEscrow } from './contract-activities';
import type { ContractProcess } from './contract-process';

// One award's escrow as a saga: each step that moves money pushes what undoes it, and
// release() runs the list newest-first. A hold is undone by a void; once the hold is captured
// early (it would lapse), by a refund; a capture for settlement is final and clears the list.
// Payment calls run one at a time: the early capture may fire while the contract ends.

interface Compensation {
  step: 'void the hold' | 'refund the capture';
  run: (reason: string) => Promise<void>;
}

/** workStarted: the hold was in place at once, and its write made the contract IN_PROGRESS. */
export type HoldResult = { ok: true; workStarted: boolean } | { ok: false; failure: string } | { ok: false; cancelled: true };

export class EscrowSaga {
  #compensations: Compensation[] = [];
  #queue: Promise<void> = Promise.resolve();

  constructor(private readonly c: ContractProcess) {}

  /**
   * Authorises the winning price (waiting, bounded, for a customer action such as 3-D Secure).
   * A hold in place at once starts the work in its own write (`startWork`).
   */
  async hold(award: Award, startWork: { deliveryDeadline: string }): Promise<HoldResult> {
    const { input, round } = this.c;
    let payment: PaymentView;
    try {
      payment = await holdEscrow({
        contractId: input.contractId,
        userId: input.userId,
        agentId: award.agentId,
        amountCents: award.priceCents,
        currency: input.currency,
        idempotencyKey: stepKey('escrow-hold', round),
        startWork,
      });
    } catch (err) {
      const cause = err instanceof wf.ActivityFailure && err.cause instanceof Error ? err.cause.message : String(err);
      return { ok: false, failure: `escrow was declined: ${cause}` };
    }
    this.c.paymentChanged(payment);
    this.#compensations = [{ step: 'void the hold', run: (reason) => this.#void(reason) }];
    const workStarted = payment.status === 'authorized';
    if (payment.status === 'requires_action') {
      const failure = await this.#awaitCustomerAction();
      if (failure) return { ok: false, failure };
    }
    if (this.c.cancelRequested) return { ok: false, cancelled: true };
    this.#keepFundsPastTheHold();
    return { ok: true, workStarted };
  }

  /**
   * Settlement: `settle` gets the hold to capture (null if it was captured early and is held on
   * the platform, or there is none) and captures it in its own transaction. Final.
   */
  async settle(settle: (capture: CaptureInput | null) => Promise<PaymentView | null>): Promise<void> {
    await this.#serial(async () => {
      const payment = this.c.payment;
      const capture = payment?.status === 'authorized' ? this.#captureOf(payment) : null;
      const after = await settle(capture);
      if (after) this.c.paymentChanged(after);
    });
    this.#compensations = [];
  }

  #captureOf(payment: PaymentView): CaptureInput {
    return { paymentIntentId: payment.paymentIntentId, amountCents: payment.amountCents, idempotencyKey: stepKey('escrow-capture', this.c.round) };
  }

  /** Gives the money back: runs the compensations newest-first, once. */
  release(reason: string): Promise<void> {
    return this.#serial(async () => {
      const steps = this.#compensations.reverse();
      this.#compensations = [];
      for (const step of steps) await step.run(reason);
    });
  }

  #serial(op: () => Promise<void>): Promise<void> {
    const next = this.#queue.then(op);
    this.#queue = next.catch(() => undefined);
    return next;
  }

  async #void(reason: string): Promise<void> {
    const payment = this.c.payment;
    if (payment?.status !== 'authorized' && payment?.status !== 'requires_action') return;
    this.c.paymentChanged(await voidEscrow({ paymentIntentId: payment.paymentIntentId, idempotencyKey: stepKey('escrow-void', this.c.round), reason }));
  }

  // A refund or dispute at Stripe already took the money back: refunding again would be a
  // 0-amount refund Stripe refuses, retried until the bound.
  async #refund(reason: string): Promise<void> {
    const payment = this.c.payment;
    if (payment?.status !== 'captured' || this.c.paymentLost) return;
    this.c.paymentChanged(await refundEscrow({ paymentIntentId: payment.paymentIntentId, idempotencyKey: stepKey('escrow-refund', this.c.round), reason }));
  }

  async #captureIfHeld(): Promise<boolean> {
    const payment = this.c.payment;
    if (payment?.status !== 'authorized') return false;
    this.c.paymentChanged(await captureEscrow(this.#captureOf(payment)));
    return true;
  }

  // A card hold lapses after about 7 days. A contract still open at captureBy has its payment
  // captured then and held on the platform (user_escrow in the ledger); a later failure refunds.
  #keepFundsPastTheHold(): void {
    const captureBy = this.c.payment?.captureBy;
    if (!captureBy) return;
    void (async () => {
      const ended = await wf.condition(() => this.c.isTerminal || this.c.payment?.status !== 'authorized' || this.c.settling, msUntil(captureBy));
      if (ended) return;
      // A capture that gives up must not fail the workflow task from this detached branch:
      // the hold stays, and settlement or release deals with it on the main path.
      await this.#serial(async () => {
        if (await this.#captureIfHeld()) this.#compensations = [{ step: 'refund the capture', run: (reason) => this.#refund(reason) }];
      }).catch(() => undefined);
    })();
  }

  // requires_action (e.g. 3-D Secure): wait, bounded, for Stripe's webhook saying how it went.
  async #awaitCustomerAction(): Promise<string | null> {
    const pi = this.c.payment!.paymentIntentId;
    const deadline = this.c.payment!.actionDeadline ?? secondsFromNow(3600);
    const outcome = () => this.c.paymentSignals.find((s) => s.paymentIntentId === pi && ['succeeded', 'failed', 'canceled'].includes(s.kind));
    await wf.condition(() => outcome() !== undefined || this.c.cancelRequested, msUntil(deadline));
    if (this.c.cancelRequested) return null;
    const signal = outcome();
    if (signal?.kind === 'succeeded') {
      this.c.paymentChanged(await confirmEscrow(pi));
      return null;
    }
    const reason = signal ? `the payment ${signal.kind === 'failed' ? 'failed' : 'was cancelled'} at Stripe` : "the payment needed the customer's confirmation, which did not come in time";
    this.c.paymentChanged(await failEscrow({ paymentIntentId: pi, reason }));
    this.#compensations = [];
    return reason;
  }
}
