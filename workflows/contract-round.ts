import * as wf from '@temporalio/workflow';
import { unrunnableValidation, validationSummary, type ValidateDeliveryRequest, type Validation } from '../domain/acceptance';
import type { Award, ContractOutcome, DeliveryView, Review } from '../domain/contract-types';
import { deliveryFromStdout, type ExecutionReport } from '../domain/execution';
import { HermesStatus } from '../domain/search-attributes';
import { msUntil, nowIso, secondsFromNow, stepKey } from './clock';
import { recordAward, recordDelivery, recordReview, recordValidation, settleContract } from './contract-activities';
import { closedAs, executionFigures, finish, isDataRejected, moveTo, transition, type AgentFailure } from './contract-endings';
import type { ContractProcess } from './contract-process';
import type { EscrowSaga } from './escrow-saga';
import { sandboxActivities, validationActivities } from './sandbox-activities';

// One award served: escrow, work, review, settlement. Ends the contract (an outcome), or
// reports the awarded agent's failure so the caller can re-award.

/** A hold slower than this (Stripe or Postgres retried) would have cost the agent window time. */
const SLOW_HOLD_MS = 5_000;

export async function serveAward(c: ContractProcess, escrow: EscrowSaga, chosen: Award): Promise<ContractOutcome | AgentFailure> {
  const { input } = c;
  const cancelled = () => finish(c, escrow, 'CANCELLED', null, c.cancelReason);
  // The award, the bids and the execution plan are written in one transaction. A delivery sent before
  // the plan is known waits in its handler for the work to start, and is refused then if the
  // agent's binary runs in the sandbox.
  c.awarded(chosen);
  c.planned(await moveTo(c, 'AWARDED', () => recordAward(input.contractId, chosen, [...c.bids.values()]), chosen.agentId));
  if (c.cancelRequested) return cancelled();

  // Work starts once the escrow holds: a hold in place at once writes IN_PROGRESS itself (one
  // activity); a free contract, or one whose hold waited for the customer, writes it here.
  let startedAt = Date.now();
  const deliveryDeadline = secondsFromNow(input.deliveryWindowSeconds);
  let workStarted = false;
  if (chosen.priceCents > 0) {
    const held = await escrow.hold(chosen, { deliveryDeadline });
    if (!held.ok) return 'cancelled' in held ? cancelled() : finish(c, escrow, 'FAILED', 'payment_failed', held.failure);
    workStarted = held.workStarted;
  }

  // Work: the sandbox runs the agent's binary, or the agent delivers before the deadline.
  if (workStarted && Date.now() - startedAt <= SLOW_HOLD_MS) {
    c.startWork(deliveryDeadline);
    await moveTo(c, 'IN_PROGRESS', async () => undefined); // written with the hold
  } else {
    // No hold, one that waited for the customer, or one retried for a while: the agent's window
    // counts from now, not from before the hold (the row is IN_PROGRESS already after a slow
    // hold: this write moves its deadline and announces nothing).
    startedAt = Date.now();
    c.startWork(secondsFromNow(input.deliveryWindowSeconds));
    await transition(c, 'IN_PROGRESS', { deliveryDeadline: c.deliveryDeadline });
  }
  if (c.plan) {
    const ran = await executeInSandbox(c);
    if (ran === 'cancelled') return cancelled();
    if (ran !== 'delivered') return { reason: 'execution_failed', detail: ran.failure, actualSeconds: Math.round((Date.now() - startedAt) / 1000) };
  }
  // A delivery whose write was refused is taken back (see the deliver handler): wait on.
  const deadline = c.deliveryDeadline!;
  do {
    await wf.condition(() => c.delivery !== null || c.cancelRequested || c.paymentLost !== null, msUntil(deadline));
    await wf.condition(() => c.writesSettled);
  } while (!c.delivery && !c.cancelRequested && !c.paymentLost && Date.now() < Date.parse(deadline));
  if (c.paymentLost) return paymentLost(c, escrow);
  if (!c.delivery) {
    if (c.cancelRequested) return cancelled();
    return { reason: 'delivery_missed', detail: 'the agent did not deliver before the deadline' };
  }
  const actualSeconds = Math.round((Date.parse(c.delivery.deliveredAt) - startedAt) / 1000);

  // Acceptance checks, before anyone reviews: a failure rejects the delivery (a re-award may
  // follow, and it counts against the agent); a pass with on_pass settle accepts it; a pass
  // with on_pass review, or a check that could not decide (error), leaves it to the user.
  if (input.acceptance) {
    const validation = await validate(c);
    if (validation.status === 'failed') return { reason: 'validation_failed', detail: c.review?.reason ?? null, actualSeconds };
  }

  // Review: accept (1-5), reject (reason), or silence, which accepts. A review whose write
  // was refused is taken back (see the handlers): wait on.
  while (!c.review && !c.paymentLost) {
    const reviewed = await wf.condition(() => c.review !== null || c.paymentLost !== null, msUntil(c.reviewDeadline!));
    if (!reviewed && !c.reviewPending && !c.paymentLost) {
      const silence = { decision: 'accepted' as const, rating: null, comment: null, reason: null, automatic: true, reviewedAt: nowIso() };
      c.reviewTaken(silence);
      await recordReview(input.contractId, c.delivery.attempt, silence);
      c.reviewStored();
    }
    await wf.condition(() => c.writesSettled);
  }
  if (c.paymentLost) return paymentLost(c, escrow);
  const review = c.review!;
  if (review.decision === 'rejected') return { reason: 'rejected', detail: review.reason, actualSeconds };

  // Settle, one activity: the hold captured at Stripe (unless captured early and held on the
  // platform), then one transaction books the capture, pays the owner's wallet less the fee,
  // records the agent's success (metric and trust score) and marks the contract SETTLED.
  c.startSettling();
  const closedAt = nowIso();
  c.decide('SETTLED');
  const priceCents = c.payment ? chosen.priceCents : 0;
  await escrow.settle((capture) => settleContract({
    contractId: input.contractId,
    agentId: chosen.agentId,
    priceCents,
    currency: input.currency,
    idempotencyKey: stepKey('settlement', c.round),
    closedAt,
    ...(capture && { capture }),
    metric: {
      agentId: chosen.agentId,
      contractId: input.contractId,
      outcome: 'success',
      failureReason: null,
      promisedEtaSeconds: chosen.etaSeconds,
      actualSeconds,
      rating: review.rating,
      priceCents: chosen.priceCents,
      ...executionFigures(c),
    },
  }));
  return closedAs(c, 'SETTLED', null, null, closedAt);
}

// Refunded or disputed at Stripe while the contract ran: there is nothing to pay out, and it
// is no failure of the agent's.
function paymentLost(c: ContractProcess, escrow: EscrowSaga): Promise<ContractOutcome> {
  return finish(c, escrow, 'FAILED', 'payment_failed', `the payment was ${c.paymentLost!.kind} at Stripe`);
}

/**
 * Runs the contract's acceptance checks on the current delivery (validateDelivery, on the
 * sandbox task queue), records the result (recordValidation), and records the review the
 * result implies, if any. Checks that could not be run at all are an `error`.
 */
async function validate(c: ContractProcess): Promise<Validation> {
  const { input } = c;
  const acceptance = input.acceptance!;
  const delivery = c.delivery!;
  c.validationStarted();
  const req: ValidateDeliveryRequest = {
    contractId: input.contractId,
    attempt: delivery.attempt,
    ...(acceptance.outputSchema && { outputSchema: acceptance.outputSchema }),
    ...(acceptance.verifier && { verifier: { id: acceptance.verifier.id, sha256: acceptance.verifier.sha256, url: acceptance.verifier.url } }),
    input: {
      contract: { id: input.contractId, intent: input.intent, context: input.context, reward_cents: input.rewardCents, currency: input.currency },
      delivery: {
        id: delivery.deliveryId,
        agent_id: delivery.agentId,
        attempt: delivery.attempt,
        source: delivery.source ?? 'agent',
        output: delivery.output,
        output_encoding: delivery.outputEncoding ?? 'json',
        delivered_at: delivery.deliveredAt,
      },
    },
  };
  let validation: Validation;
  try {
    validation = await validationActivities(acceptance.taskQueue).validateDelivery(req);
  } catch (err) {
    if (!(err instanceof wf.ActivityFailure)) throw err;
    validation = unrunnableValidation(req, err.cause?.message ?? err.message, nowIso());
  }
  const automatic = (decision: 'accepted' | 'rejected', reason: string | null): Review => ({ decision, rating: null, comment: null, reason, automatic: true, reviewedAt: nowIso() });
  const review =
    validation.status === 'failed'
      ? automatic('rejected', `failed its acceptance checks: ${validationSummary(validation)}`)
      : validation.status === 'passed' && acceptance.onPass === 'settle'
        ? automatic('accepted', null)
        : null;
  // Left to the user: the review window counts from the checks' verdict, not from the delivery
  // (slow checks must not leave the user less time, or none, before silence accepts).
  const reviewDeadline = review ? null : secondsFromNow(input.reviewWindowSeconds);
  await recordValidation(input.contractId, delivery.attempt, validation, reviewDeadline);
  c.validationConcluded(validation, review, reviewDeadline);
  if (review) {
    await recordReview(input.contractId, delivery.attempt, review);
    c.reviewStored();
  }
  return validation;
}

/** Writes a delivery taken by the workflow or a handler; DELIVERED goes with its row. */
export async function storeDelivery(c: ContractProcess, delivery: DeliveryView): Promise<void> {
  const reviewDeadline = secondsFromNow(c.input.reviewWindowSeconds);
  c.deliveryTaken(delivery, reviewDeadline);
  await recordDelivery(c.input.contractId, delivery, reviewDeadline);
  c.deliveryStored();
  wf.upsertSearchAttributes([{ key: HermesStatus, value: 'DELIVERED' }]);
}

async function executeInSandbox(c: ContractProcess): Promise<'delivered' | 'cancelled' | { failure: string }> {
  const { input } = c;
  const plan = c.plan!;
  const award = c.award!;
  const scope = new wf.CancellationScope();
  void wf.condition(() => c.cancelRequested).then(() => scope.cancel());
  try {
    const report = await scope.run(() =>
      sandboxActivities(plan).executeAgent({
        ...plan,
        contractId: input.contractId,
        round: c.round,
        input: { contract_id: input.contractId, intent: input.intent, context: input.context },
      }),
    );
    c.executed(report);
    await storeDelivery(c, {
      deliveryId: wf.uuid4(),
      agentId: award.agentId,
      bidId: award.bidId,
      attempt: c.round,
      ...deliveryFromStdout(report.stdout, report.stdoutEncoding),
      deliveredAt: nowIso(),
      source: 'sandbox',
    });
    return 'delivered';
  } catch (err) {
    if (wf.isCancellation(err)) return 'cancelled';
    // Our own write failing is no failure of the agent's.
    if (err instanceof wf.ActivityFailure && (err.activityType !== 'executeAgent' || isDataRejected(err))) throw err;
    const cause = err instanceof wf.ActivityFailure && err.cause ? err.cause : err;
    if (cause instanceof wf.ApplicationFailure) c.executed((cause.details?.[0] as ExecutionReport | undefined) ?? null);
    return { failure: cause instanceof Error ? cause.message : String(cause) };
  }
}
