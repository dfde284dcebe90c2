import * as wf from '@temporalio/workflow';
import type { Activities } from '../activities';
import type {
  Award,
  BidView,
  ContractInput,
  ContractOutcome,
  DeliveryView,
} from '../domain/contract-types';
import { deliveryFromStdout, type ExecutionPlan } from '../domain/execution';
import { rankBids } from '../domain/ranking';
import { HermesAgentId, HermesStatus } from '../domain/search-attributes';
import type { ContractStatus, FailureReason } from '../domain/statuses';
import type { ExecutionReport } from '../domain/execution';
import { DB_WRITE, PAYMENT } from './activity-options';
import { ContractProcess, refuse } from './contract-process';
import { accept, award, cancel, closeBidding, created, deliver, getState, paymentEvent, reject, submitBid } from './contract-messages';
import { sandboxActivities } from './sandbox-activities';

// One contract, post to settlement: BIDDING → AWARDED → IN_PROGRESS → DELIVERED → SETTLED,
// with exits EXPIRED, CANCELLED and FAILED. Every exit after escrow voids the payment.



const db = wf.proxyActivities<Activities>(DB_WRITE);
const payments = wf.proxyActivities<Activities>(PAYMENT);

const nowIso = () => new Date().toISOString();
const msUntil = (iso: string) => Math.max(1, Date.parse(iso) - Date.now());
const secondsFromNow = (s: number) => new Date(Date.now() + s * 1000).toISOString();

export async function contractWorkflow(input: ContractInput): Promise<ContractOutcome> {
  const p = new ContractProcess(input, Date.now());
  registerHandlers(p);
  const outcome = await run(p).catch((err: unknown) => endAfterFault(p, err));
  // Let handlers waiting on the final status (cancel, award) answer before the run closes.
  await wf.condition(wf.allHandlersFinished);
  return outcome;
}

// An activity that refused its data or kept failing past its retry bound ends the contract
// FAILED with the reason and its escrow released, rather than leaving it stuck. (Anything
// else is a bug in this code: it fails the workflow task, to be fixed and replayed.)
async function endAfterFault(p: ContractProcess, err: unknown): Promise<ContractOutcome> {
  if (!(err instanceof wf.ActivityFailure)) throw err;
  // Once settlement began, or the contract already chose its end, releasing money here could
  // pay twice: the workflow fails instead, where operators see it (an unused hold lapses).
  if (p.settling || p.isTerminal) throw err;
  const detail = `${err.activityType} failed: ${err.cause?.message ?? err.message}`;
  if (!p.persisted) {
    // The creating request hears why. A row written before a later step of the same
    // activity failed is marked too, so nothing is left open.
    p.creationFailure = err;
    if (!isDataRejected(err)) await db.setContractStatus(p.input.contractId, 'FAILED', { failureReason: 'system_error', statusDetail: detail, closedAt: nowIso() });
    return { status: 'FAILED', failureReason: 'system_error', statusDetail: detail };
  }
  return finish(p, 'FAILED', 'system_error', detail);
}

const isDataRejected = (err: wf.ActivityFailure) => err.cause instanceof wf.ApplicationFailure && err.cause.type === 'DATA_REJECTED';

async function run(p: ContractProcess): Promise<ContractOutcome> {
  const { input } = p;
  await db.persistContract(input, p.biddingDeadline);
  p.persisted = true;

  // Bidding: until the deadline, closeBidding, a manual award or a cancel.
  await wf.condition(() => !p.biddingOpen || p.cancelRequested, msUntil(p.biddingDeadline));
  p.biddingOpen = false;
  await writesSettled(p);
  if (p.cancelRequested) return finish(p, 'CANCELLED', null, p.cancelReason);

  let chosen = await chooseAward(p);
  if (p.cancelRequested) return finish(p, 'CANCELLED', null, p.cancelReason);
  if (!chosen) return finish(p, 'EXPIRED', null, p.statusDetail);
  for (;;) {
    const served = await serve(p, chosen);
    if ('status' in served) return served;
    // The awarded agent failed: the next-ranked eligible bid may take over, a bounded number
    // of times.
    const next = nextInRanking(p);
    if (next && p.reawards < (input.maxReawards ?? 0)) {
      await releaseAward(p, served);
      chosen = next;
      continue;
    }
    return finish(p, 'FAILED', served.reason, served.detail, { actualSeconds: served.actualSeconds });
  }
}

interface AgentFailure {
  reason: 'delivery_missed' | 'execution_failed' | 'rejected';
  detail: string | null;
  actualSeconds?: number;
}

// One award served: escrow, work, review, settlement. Ends the contract (an outcome), or
// reports the awarded agent's failure so the caller can re-award.
async function serve(p: ContractProcess, chosen: Award): Promise<ContractOutcome | AgentFailure> {
  const { input } = p;
  p.award = chosen;
  await setStatus(p, 'AWARDED');
  wf.upsertSearchAttributes([{ key: HermesAgentId, value: chosen.agentId }]);
  await db.recordAward(input.contractId, chosen);
  if (p.cancelRequested) return finish(p, 'CANCELLED', null, p.cancelReason);

  // Escrow: authorise the winning price now, capture at settlement.
  if (chosen.priceCents > 0) {
    try {
      p.payment = await payments.holdEscrow({
        contractId: input.contractId,
        userId: input.userId,
        agentId: chosen.agentId,
        amountCents: chosen.priceCents,
        currency: input.currency,
        idempotencyKey: stepKey('escrow-hold', p.round),
      });
    } catch (err) {
      const detail = err instanceof wf.ActivityFailure && err.cause instanceof Error ? err.cause.message : String(err);
      return finish(p, 'FAILED', 'payment_failed', `escrow was declined: ${detail}`);
    }
    if (p.payment.status === 'requires_action') {
      const failure = await awaitCustomerAction(p);
      if (p.cancelRequested) return finish(p, 'CANCELLED', null, p.cancelReason);
      if (failure) return finish(p, 'FAILED', 'payment_failed', failure);
    }
    if (p.cancelRequested) return finish(p, 'CANCELLED', null, p.cancelReason);
    keepFundsPastTheHold(p);
  }

  // Work: wait for the awarded agent's delivery until the deadline.
  const startedAt = Date.now();
  p.deliveryDeadline = secondsFromNow(input.deliveryWindowSeconds);
  await setStatus(p, 'IN_PROGRESS', { deliveryDeadline: p.deliveryDeadline });
  // An agent with a binary does the work here, in the sandbox; its stdout is the delivery.
  const plan = await db.planExecution(chosen.agentId, chosen.etaSeconds);
  if (plan) {
    const ran = await executeInSandbox(p, plan);
    if (ran === 'cancelled') return finish(p, 'CANCELLED', null, p.cancelReason);
    if (ran !== 'delivered') {
      return { reason: 'execution_failed', detail: ran.failure, actualSeconds: Math.round((Date.now() - startedAt) / 1000) };
    }
  }
  // A delivery whose write was refused is taken back (see the deliver handler): wait on.
  do {
    await wf.condition(() => p.delivery !== null || p.cancelRequested, msUntil(p.deliveryDeadline));
    await writesSettled(p);
  } while (!p.delivery && !p.cancelRequested && Date.now() < Date.parse(p.deliveryDeadline));
  if (!p.delivery) {
    if (p.cancelRequested) return finish(p, 'CANCELLED', null, p.cancelReason);
    return { reason: 'delivery_missed', detail: 'the agent did not deliver before the deadline' };
  }
  const actualSeconds = Math.round((Date.parse(p.delivery.deliveredAt) - startedAt) / 1000);
  p.status = 'DELIVERED'; // persisted with the delivery row by recordDelivery
  wf.upsertSearchAttributes([{ key: HermesStatus, value: 'DELIVERED' }]);

  // Review: accept (1-5), reject (reason), or silence, which accepts.
  // A review whose write was refused is taken back (see reviewed()): wait on.
  while (p.review === null) {
    const reviewed = await wf.condition(() => p.review !== null, msUntil(p.reviewDeadline!));
    if (!reviewed) {
      p.review = { decision: 'accepted', rating: null, comment: null, reason: null, automatic: true, reviewedAt: nowIso() };
      await db.recordReview(input.contractId, p.delivery.attempt, p.review);
    }
    await writesSettled(p);
  }
  const review = p.review;
  if (review.decision === 'rejected') return { reason: 'rejected', detail: review.reason, actualSeconds };
  // Settle: capture the escrow (unless already held on the platform), record the agent's
  // metric, then pay the owner's wallet less the fee atomically with SETTLED.
  p.settling = true;
  // Refunded or disputed at Stripe while the contract ran: there is nothing to pay out.
  const lost = p.paymentSignals.find((x) => x.paymentIntentId === p.payment?.paymentIntentId && (x.kind === 'refunded' || x.kind === 'disputed'));
  if (lost) return finish(p, 'FAILED', 'payment_failed', `the payment was ${lost.kind} at Stripe`);
  await serialPayments(p, () => captureIfHeld(p));
  await db.recordAgentMetric({
    agentId: chosen.agentId,
    contractId: input.contractId,
    outcome: 'success',
    failureReason: null,
    promisedEtaSeconds: chosen.etaSeconds,
    actualSeconds,
    rating: review.rating,
    priceCents: chosen.priceCents,
    ...executionFigures(p),
  });
  await db.recomputeAgentTrust(chosen.agentId);
  await db.settleContract({
    contractId: input.contractId,
    agentId: chosen.agentId,
    priceCents: p.payment ? chosen.priceCents : 0,
    currency: input.currency,
    idempotencyKey: stepKey('settlement', p.round),
    closedAt: nowIso(),
  });
  return finish(p, 'SETTLED', null, null);
}

/** The best-ranked eligible bid whose agent has not failed this contract yet. */
function nextInRanking(p: ContractProcess): Award | null {
  const failed = new Set(p.failedAgents);
  const ranking = p.award?.ranking ?? [];
  const next = ranking.find((r) => r.eligible && !failed.has(r.agentId) && r.agentId !== p.award?.agentId);
  const bid = next && p.bids.get(next.agentId);
  return bid ? awardOf(bid, p.award!.mode, next.score, ranking) : null;
}

// Before a re-award: the failure counts against the agent that failed, its escrow is released
// (voided, or refunded if already captured), and the work state starts afresh.
async function releaseAward(p: ContractProcess, failure: AgentFailure): Promise<void> {
  const award = p.award!;
  await serialPayments(p, () => releasePayment(p, failure.reason));
  await countFailure(p, failure.reason, failure.actualSeconds);
  p.failedAgents.push(award.agentId);
  p.reawards++;
  p.round++;
  p.statusDetail = `re-awarded after ${award.agentId} failed: ${failure.detail ?? failure.reason}`;
  Object.assign(p, { payment: null, delivery: null, review: null, execution: null, deliveryDeadline: null, reviewDeadline: null, settling: false });
}

async function executeInSandbox(
  p: ContractProcess,
  plan: ExecutionPlan,
): Promise<'delivered' | 'cancelled' | { failure: string }> {
  const { input } = p;
  const award = p.award!;
  const sandbox = sandboxActivities(plan);
  p.executing = true;
  const scope = new wf.CancellationScope();
  void wf.condition(() => p.cancelRequested).then(() => scope.cancel());
  try {
    const report = await scope.run(() =>
      sandbox.executeAgent({
        ...plan,
        contractId: input.contractId,
        input: { contract_id: input.contractId, intent: input.intent, context: input.context },
      }),
    );
    p.execution = report;
    const delivery: DeliveryView = {
      deliveryId: wf.uuid4(),
      agentId: award.agentId,
      bidId: award.bidId,
      attempt: p.round,
      output: deliveryFromStdout(report.stdout),
      deliveredAt: nowIso(),
      source: 'sandbox',
    };
    p.delivery = delivery;
    p.reviewDeadline = secondsFromNow(input.reviewWindowSeconds);
    await db.recordDelivery(input.contractId, delivery, p.reviewDeadline);
    return 'delivered';
  } catch (err) {
    if (wf.isCancellation(err)) return 'cancelled';
    // Our own write failing is no failure of the agent's.
    if (err instanceof wf.ActivityFailure && (err.activityType !== 'executeAgent' || isDataRejected(err))) throw err;
    const cause = err instanceof wf.ActivityFailure && err.cause ? err.cause : err;
    if (cause instanceof wf.ApplicationFailure) p.execution = (cause.details?.[0] as ExecutionReport | undefined) ?? null;
    return { failure: cause instanceof Error ? cause.message : String(cause) };
  } finally {
    p.executing = false;
  }
}

// Gives back an escrow that will not be settled: void a hold, refund a capture.
async function releasePayment(p: ContractProcess, reason: string, status: ContractStatus = 'FAILED'): Promise<void> {
  if (!p.payment) return;
  if (p.payment.status === 'authorized' || p.payment.status === 'requires_action') {
    p.payment = await payments.voidEscrow({ paymentIntentId: p.payment.paymentIntentId, idempotencyKey: stepKey('escrow-void', p.round), reason });
  } else if (p.payment.status === 'captured' && status !== 'SETTLED') {
    // Captured early (the hold would have lapsed): the money goes back to the user.
    p.payment = await payments.refundEscrow({ paymentIntentId: p.payment.paymentIntentId, idempotencyKey: stepKey('escrow-refund', p.round), reason });
  }
}

// Payment operations run one at a time: the early capture may fire while the contract ends.
function serialPayments(p: ContractProcess, op: () => Promise<void>): Promise<void> {
  const next = p.paymentQueue.then(op);
  p.paymentQueue = next.catch(() => undefined);
  return next;
}

async function captureIfHeld(p: ContractProcess): Promise<void> {
  if (p.payment?.status !== 'authorized') return;
  p.payment = await payments.captureEscrow({
    paymentIntentId: p.payment.paymentIntentId,
    amountCents: p.payment.amountCents,
    idempotencyKey: stepKey('escrow-capture', p.round),
  });
}

// A card hold lapses after about 7 days. A contract still open at captureBy has its payment
// captured then and held on the platform (user_escrow in the ledger); a later failure refunds.
function keepFundsPastTheHold(p: ContractProcess): void {
  const captureBy = p.payment?.captureBy;
  if (!captureBy) return;
  void (async () => {
    const ended = await wf.condition(() => p.isTerminal || p.payment?.status !== 'authorized' || p.settling, msUntil(captureBy));
    // A capture that gives up must not fail the workflow task from this detached branch:
    // the hold stays, and settlement or release deals with it on the main path.
    if (!ended) await serialPayments(p, () => captureIfHeld(p)).catch(() => undefined);
  })();
}

// requires_action (e.g. 3-D Secure): wait, bounded, for Stripe's webhook saying how it went.
async function awaitCustomerAction(p: ContractProcess): Promise<string | null> {
  const pi = p.payment!.paymentIntentId;
  const deadline = p.payment!.actionDeadline ?? secondsFromNow(3600);
  const outcome = () => p.paymentSignals.find((s) => s.paymentIntentId === pi && ['succeeded', 'failed', 'canceled'].includes(s.kind));
  await wf.condition(() => outcome() !== undefined || p.cancelRequested, msUntil(deadline));
  if (p.cancelRequested) return null;
  const signal = outcome();
  if (signal?.kind === 'succeeded') {
    p.payment = await payments.confirmEscrow(pi);
    return null;
  }
  const reason = signal ? `the payment ${signal.kind === 'failed' ? 'failed' : 'was cancelled'} at Stripe` : 'the payment needed the customer\'s confirmation, which did not come in time';
  p.payment = await payments.failEscrow({ paymentIntentId: pi, reason });
  return reason;
}

async function chooseAward(p: ContractProcess): Promise<Award | null> {
  const { input } = p;
  const bids = [...p.bids.values()];
  if (bids.length === 0) {
    p.statusDetail = 'no bids were received';
    return null;
  }
  // Reputation is each bidder's real trust score.
  const reputations = await db.loadReputations([...new Set(bids.map((b) => b.agentId))]);
  const ranking = rankBids({ bids, rewardCents: input.rewardCents, weights: input.weights, filters: input.filters, reputations });

  if (input.awardMode === 'auto') {
    const winner = ranking[0];
    if (!winner?.eligible) {
      p.statusDetail = 'no bid passed the contract filters';
      return null;
    }
    return awardOf(bids.find((b) => b.bidId === winner.bidId)!, 'auto', winner.score, ranking);
  }

  if (p.manualAwardBidId === null) {
    p.awardDeadline = secondsFromNow(input.awardWindowSeconds);
    await wf.condition(() => p.manualAwardBidId !== null || p.cancelRequested, msUntil(p.awardDeadline));
  }
  if (p.cancelRequested) return null;
  if (p.manualAwardBidId === null) {
    p.statusDetail = 'the owner did not award a bid in time';
    return null;
  }
  const bid = bids.find((b) => b.bidId === p.manualAwardBidId);
  if (!bid) {
    p.statusDetail = 'the awarded bid could not be stored';
    return null;
  }
  return awardOf(bid, 'manual', ranking.find((r) => r.bidId === bid.bidId)?.score ?? null, ranking);
}

function awardOf(bid: BidView, mode: Award['mode'], score: number | null, ranking: Award['ranking']): Award {
  const { bidId, agentId, priceCents, etaSeconds } = bid;
  return { bidId, agentId, priceCents, etaSeconds, mode, score, ranking, awardedAt: nowIso() };
}

async function finish(
  p: ContractProcess,
  status: ContractStatus,
  failureReason: FailureReason | null,
  detail: string | null,
  extra: { actualSeconds?: number } = {},
): Promise<ContractOutcome> {
  await serialPayments(p, () => releasePayment(p, failureReason ?? status.toLowerCase(), status));
  // Failures that are the agent's doing count against it.
  if (p.award && (failureReason === 'delivery_missed' || failureReason === 'rejected' || failureReason === 'execution_failed')) {
    await countFailure(p, failureReason, extra.actualSeconds);
  }
  p.failureReason = failureReason;
  p.statusDetail = detail;
  p.closedAt = nowIso();
  await setStatus(p, status, { failureReason, statusDetail: detail, closedAt: p.closedAt });
  return { status, failureReason, statusDetail: detail };
}

// The awarded agent's failure goes on its record, and its trust score follows.
async function countFailure(p: ContractProcess, reason: AgentFailure['reason'], actualSeconds?: number): Promise<void> {
  const award = p.award!;
  await db.recordAgentMetric({
    agentId: award.agentId,
    contractId: p.input.contractId,
    outcome: 'failure',
    failureReason: reason,
    promisedEtaSeconds: award.etaSeconds,
    actualSeconds: actualSeconds ?? null,
    rating: p.review?.rating ?? null,
    priceCents: award.priceCents,
    ...executionFigures(p),
  });
  await db.recomputeAgentTrust(award.agentId);
}

function executionFigures(p: ContractProcess): { executionMs?: number; fuelConsumed?: number } {
  if (!p.execution) return {};
  return { executionMs: Math.round(p.execution.durationMs), fuelConsumed: p.execution.fuelConsumed };
}

async function setStatus(
  p: ContractProcess,
  status: ContractStatus,
  fields: Parameters<Activities['setContractStatus']>[2] = {},
): Promise<void> {
  p.status = status;
  wf.upsertSearchAttributes([{ key: HermesStatus, value: status }]);
  await db.setContractStatus(p.input.contractId, status, fields);
}

function writesSettled(p: ContractProcess): Promise<void> {
  return wf.condition(() => p.pendingWrites === 0);
}

// Idempotency keys for external calls: stable across activity retries and worker restarts.
// A re-awarded contract's later rounds get their own keys: a new hold is a new payment.
function stepKey(step: string, round = 1): string {
  return `${wf.workflowInfo().workflowId}/${step}${round > 1 ? `-r${round}` : ''}`;
}

// An update handler's write. If Postgres refuses it, or it fails past its retry bound, the
// handler's change is undone and its caller told — the contract goes on without it.
async function tracked<T>(p: ContractProcess, what: string, write: () => Promise<T>, undo: () => void): Promise<T> {
  p.pendingWrites++;
  try {
    return await write();
  } catch (err) {
    if (!(err instanceof wf.ActivityFailure)) throw err;
    undo();
    const cause = err.cause;
    if (isDataRejected(err)) refuse('VALIDATION_ERROR', `the ${what} could not be stored: ${cause?.message}`);
    refuse('UNAVAILABLE', `the ${what} could not be stored right now; retry`);
  } finally {
    p.pendingWrites--;
  }
}

function registerHandlers(p: ContractProcess): void {
  const { contractId } = p.input;

  wf.setHandler(getState, () => p.view());
  wf.setHandler(created, async () => {
    await wf.condition(() => p.persisted || p.creationFailure !== null);
    if (p.creationFailure) {
      const failure = p.creationFailure;
      if (failure instanceof wf.ActivityFailure && isDataRejected(failure)) refuse('VALIDATION_ERROR', `the contract could not be stored: ${failure.cause?.message}`);
      refuse('UNAVAILABLE', 'the contract could not be stored right now; retry');
    }
    return p.view();
  });
  wf.setHandler(paymentEvent, (signal) => void p.paymentSignals.push(signal));

  wf.setHandler(
    submitBid,
    async (req) => {
      const previous = p.bids.get(req.agentId);
      const bid = p.applyBid(req, wf.uuid4(), nowIso());
      await tracked(p, 'bid', () => db.recordBid(contractId, bid), () => p.undoBid(bid, previous));
      return bid;
    },
    { validator: (req) => p.validateBid(req) },
  );

  wf.setHandler(
    closeBidding,
    () => {
      p.biddingOpen = false;
      return p.view();
    },
    { validator: (caller) => p.validateCloseBidding(caller) },
  );

  wf.setHandler(
    award,
    async (req) => {
      p.manualAwardBidId = req.bidId;
      p.biddingOpen = false;
      await wf.condition(() => p.award !== null || p.isTerminal);
      return p.view();
    },
    { validator: (req) => void p.validateManualAward(req) },
  );

  wf.setHandler(
    deliver,
    async (req) => {
      const a = p.award!;
      const delivery: DeliveryView = {
        deliveryId: wf.uuid4(),
        agentId: req.agentId,
        bidId: a.bidId,
        attempt: p.round,
        output: req.output,
        deliveredAt: nowIso(),
      };
      p.delivery = delivery;
      p.reviewDeadline = secondsFromNow(p.input.reviewWindowSeconds);
      await tracked(p, 'delivery', () => db.recordDelivery(contractId, delivery, p.reviewDeadline!), () => {
        p.delivery = null;
        p.reviewDeadline = null;
      });
      return delivery;
    },
    { validator: (req) => p.validateDeliver(req) },
  );

  wf.setHandler(
    accept,
    async (req) => {
      p.review = { decision: 'accepted', rating: req.rating, comment: req.comment ?? null, reason: null, automatic: false, reviewedAt: nowIso() };
      await tracked(p, 'review', () => db.recordReview(contractId, p.delivery!.attempt, p.review!), () => (p.review = null));
      return p.view();
    },
    { validator: (req) => p.validateAccept(req) },
  );

  wf.setHandler(
    reject,
    async (req) => {
      p.review = { decision: 'rejected', rating: null, comment: null, reason: req.reason, automatic: false, reviewedAt: nowIso() };
      await tracked(p, 'review', () => db.recordReview(contractId, p.delivery!.attempt, p.review!), () => (p.review = null));
      return p.view();
    },
    { validator: (req) => p.validateReview(req) },
  );

  wf.setHandler(
    cancel,
    async (req) => {
      p.cancelReason = req.reason?.trim() || 'cancelled by the owner';
      await wf.condition(() => p.isTerminal);
      return p.view();
    },
    { validator: (req) => p.validateCancel(req) },
  );
}
