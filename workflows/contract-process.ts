import { ApplicationFailure, type ActivityFailure } from '@temporalio/workflow';
import type {
  Award,
  BidRequest,
  BidView,
  ContractInput,
  ContractState,
  DeliveryRequest,
  DeliveryView,
  PaymentSignal,
  PaymentView,
  Review,
} from '../domain/contract-types';
import { PENDING_VALIDATION, type Validation, type ValidationView } from '../domain/acceptance';
import { missingCapabilities } from '../domain/capabilities';
import type { ErrorCode } from '../domain/errors';
import type { ExecutionPlan, ExecutionReport } from '../domain/execution';
import { TERMINAL_STATUSES, type ContractStatus, type FailureReason } from '../domain/statuses';
import { textProblem } from '../domain/text';
import type { Caller } from './contract-messages';

/** The largest value of a Postgres integer column (bids.eta_seconds). */
const MAX_INT4 = 2_147_483_647;

// The contract's state, and the checks that guard every update. Every change goes through a
// method here; the workflow and its handlers read the getters. No I/O and no clock of its
// own: times come in as arguments, so this class is deterministic and testable alone.
//
// Validators decide on facts the workflow holds, not on the status the main loop last wrote:
// a delivery is "held" from the moment its handler took it (its write may still be running),
// so a review sent right after GET shows DELIVERED is never refused.

export function refuse(type: ErrorCode, message: string, field?: string): never {
  throw ApplicationFailure.create({ type, message, nonRetryable: true, details: field ? [{ field }] : [] });
}

type Write = 'pending' | 'stored';

export class ContractProcess {
  readonly biddingDeadline: string;
  /** The status whose row is written: what answers and GET show. */
  #status: ContractStatus = 'BIDDING';
  /**
   * The status the workflow has decided, from before its row is written: what validators go
   * by, so nothing is accepted in the moment between the write and the workflow hearing of it.
   */
  #decided: ContractStatus = 'BIDDING';
  #biddingOpen = true;
  #persisted = false;
  #creationFailure: ActivityFailure | null = null;
  #awardDeadline: string | null = null;
  readonly #bids = new Map<string, BidView>();
  #manualAwardBidId: string | null = null;
  #award: Award | null = null;
  /** The awarded agent's binary runs in the sandbox; its output will be the delivery. */
  #plan: ExecutionPlan | null = null;
  #payment: PaymentView | null = null;
  #deliveryDeadline: string | null = null;
  #reviewDeadline: string | null = null;
  #delivery: { view: DeliveryView; write: Write } | null = null;
  #execution: ExecutionReport | null = null;
  #review: { view: Review; write: Write } | null = null;
  /** The current delivery's acceptance checks: pending while they run (contract-round.ts). */
  #validation: ValidationView | null = null;
  /** The review was the checks' own: a failed check rejects, a pass with on_pass settle accepts. */
  #reviewedByChecks = false;
  #cancelReason: string | null = null;
  #settling = false;
  #failureReason: FailureReason | null = null;
  #statusDetail: string | null = null;
  #closedAt: string | null = null;
  readonly #paymentSignals: PaymentSignal[] = [];
  /** Which award this is: 1, then 2… after re-awards; idempotency keys and attempts follow it. */
  #round = 1;
  readonly #failedAgents: string[] = [];
  /** Handler writes still running; the main loop waits for them before it moves on. */
  #pendingWrites = 0;

  constructor(
    readonly input: ContractInput,
    startedAtMs: number,
  ) {
    this.biddingDeadline = new Date(startedAtMs + input.biddingWindowSeconds * 1000).toISOString();
  }

  get status(): ContractStatus { return this.#status; }
  /** The status the workflow has decided (its row may still be being written). */
  get decided(): ContractStatus { return this.#decided; }
  get isTerminal(): boolean { return TERMINAL_STATUSES.includes(this.#status); }
  get persisted(): boolean { return this.#persisted; }
  get creationFailure(): ActivityFailure | null { return this.#creationFailure; }
  get biddingOpen(): boolean { return this.#biddingOpen; }
  get bids(): ReadonlyMap<string, BidView> { return this.#bids; }
  get manualAwardBidId(): string | null { return this.#manualAwardBidId; }
  get award(): Award | null { return this.#award; }
  get plan(): ExecutionPlan | null { return this.#plan; }
  get payment(): PaymentView | null { return this.#payment; }
  get deliveryDeadline(): string | null { return this.#deliveryDeadline; }
  get reviewDeadline(): string | null { return this.#reviewDeadline; }
  /** The delivery once its row is written. */
  get delivery(): DeliveryView | null { return this.#delivery?.write === 'stored' ? this.#delivery.view : null; }
  /** A delivery taken whose row is still being written. */
  get deliveryPending(): boolean { return this.#delivery?.write === 'pending'; }
  /** The review once its row is written. */
  get review(): Review | null { return this.#review?.write === 'stored' ? this.#review.view : null; }
  /** A review taken whose row is still being written. */
  get reviewPending(): boolean { return this.#review?.write === 'pending'; }
  get execution(): ExecutionReport | null { return this.#execution; }
  get validation(): ValidationView | null { return this.#validation; }
  /** The delivery's acceptance checks are running: a user's review waits for them. */
  get validating(): boolean { return this.#validation?.status === 'pending'; }
  get cancelRequested(): boolean { return this.#cancelReason !== null; }
  get cancelReason(): string | null { return this.#cancelReason; }
  get settling(): boolean { return this.#settling; }
  get statusDetail(): string | null { return this.#statusDetail; }
  get round(): number { return this.#round; }
  get reawards(): number { return this.#round - 1; }
  get failedAgents(): readonly string[] { return this.#failedAgents; }
  get writesSettled(): boolean { return this.#pendingWrites === 0; }
  get paymentSignals(): readonly PaymentSignal[] { return this.#paymentSignals; }

  /** A refund or dispute at Stripe took the contract's money back while it ran. */
  get paymentLost(): PaymentSignal | null {
    const pi = this.#payment?.paymentIntentId;
    return this.#paymentSignals.find((s) => s.paymentIntentId === pi && (s.kind === 'refunded' || s.kind === 'disputed')) ?? null;
  }

  // --- changes, in lifecycle order ---

  markPersisted(): void { this.#persisted = true; }
  creationFailed(err: ActivityFailure): void { this.#creationFailure = err; }
  decide(status: ContractStatus): void { this.#decided = status; }
  setStatus(status: ContractStatus): void { this.#status = this.#decided = status; }
  closeBidding(): void { this.#biddingOpen = false; }
  noteDetail(detail: string | null): void { this.#statusDetail = detail; }
  writeStarted(): void { this.#pendingWrites++; }
  writeFinished(): void { this.#pendingWrites--; }
  paymentSignal(signal: PaymentSignal): void { this.#paymentSignals.push(signal); }
  paymentChanged(payment: PaymentView | null): void { this.#payment = payment; }
  requestCancel(reason: string | undefined): void { this.#cancelReason = reason?.trim() || 'cancelled by the owner'; }
  startAwardWindow(deadline: string): void { this.#awardDeadline = deadline; }

  applyBid(req: BidRequest, newBidId: string, nowIso: string): BidView {
    const previous = this.#bids.get(req.agentId);
    const bid: BidView = {
      bidId: previous?.bidId ?? newBidId,
      agentId: req.agentId,
      priceCents: req.priceCents,
      etaSeconds: req.etaSeconds,
      confidence: req.confidence,
      message: req.message ?? null,
      revision: (previous?.revision ?? 0) + 1,
      submittedAt: nowIso,
    };
    this.#bids.set(req.agentId, bid);
    return bid;
  }

  requestManualAward(bidId: string): void {
    this.#manualAwardBidId = bidId;
    this.#biddingOpen = false;
  }

  /** The plan stays unknown (null) until the award's own write decides it: planned(). */
  awarded(award: Award): void {
    this.#award = award;
    this.#plan = null;
  }
  /** The award's execution plan, decided in the award's own write. */
  planned(plan: ExecutionPlan | null): void { this.#plan = plan; }

  startWork(deliveryDeadline: string): void { this.#deliveryDeadline = deliveryDeadline; }
  executed(report: ExecutionReport | null): void { this.#execution = report; }

  /**
   * A delivery taken: it counts from now (no second delivery, reviews may come). With
   * acceptance checks, they are pending from this step on, so a review sent before they start
   * waits for them as one sent while they run does.
   */
  deliveryTaken(view: DeliveryView, reviewDeadline: string): void {
    this.#delivery = { view, write: 'pending' };
    this.#reviewDeadline = reviewDeadline;
    if (this.input.acceptance) this.#validation = PENDING_VALIDATION;
  }
  deliveryStored(): void {
    if (this.#delivery) this.#delivery.write = 'stored';
    this.#status = this.#decided = 'DELIVERED'; // written with the delivery row by recordDelivery
  }
  deliveryDropped(): void {
    this.#delivery = null;
    this.#reviewDeadline = null;
    this.#validation = null;
  }

  reviewTaken(view: Review): void { this.#review = { view, write: 'pending' }; }
  reviewStored(): void { if (this.#review) this.#review.write = 'stored'; }
  reviewDropped(): void { this.#review = null; }

  validationStarted(): void { this.#validation = PENDING_VALIDATION; }
  /**
   * The checks concluded, and with them, in the same step, the review they imply, or else the
   * review window, which counts from now: a review waiting for them sees it all at once.
   */
  validationConcluded(validation: Validation, review: Review | null, reviewDeadline: string | null): void {
    this.#validation = validation;
    if (review) {
      this.#review = { view: review, write: 'pending' };
      this.#reviewedByChecks = true;
    }
    if (reviewDeadline) this.#reviewDeadline = reviewDeadline;
  }

  startSettling(): void { this.#settling = true; }

  /** The awarded agent failed and the next-ranked bid takes over: the work starts afresh. */
  reaward(failedAgentId: string, detail: string): void {
    this.#failedAgents.push(failedAgentId);
    this.#round++;
    this.#statusDetail = detail;
    this.#award = null;
    this.#plan = null;
    this.#payment = null;
    this.#delivery = null;
    this.#review = null;
    this.#validation = null;
    this.#reviewedByChecks = false;
    this.#execution = null;
    this.#deliveryDeadline = null;
    this.#reviewDeadline = null;
    this.#settling = false;
  }

  closed(status: ContractStatus, failureReason: FailureReason | null, detail: string | null, closedAt: string): void {
    this.#status = this.#decided = status;
    this.#failureReason = failureReason;
    this.#statusDetail = detail;
    this.#closedAt = closedAt;
  }

  // --- validators: refuse with a typed failure, change nothing ---

  private assertOwner(caller: Caller): void {
    if (caller.userId !== this.input.userId) refuse('FORBIDDEN', 'only the contract owner may do this');
  }

  // The API sends updates without reading the contract first (api/routes/mesh.ts and
  // contracts.ts): these validators give the answers its reads gave (capabilities, owner,
  // awarded agent; an agent that never took part is told the contract does not exist).

  validateBid(req: BidRequest): void {
    const missing = req.capabilities ? missingCapabilities(req.capabilities, this.input.requiredCapabilities) : [];
    if (missing.length) refuse('CAPABILITY_MISMATCH', `agent lacks required capabilities: ${missing.join(', ')}`);
    if (this.#decided !== 'BIDDING' || !this.#biddingOpen || this.cancelRequested) {
      refuse('BIDDING_CLOSED', 'bidding on this contract is closed');
    }
    if (!Number.isSafeInteger(req.priceCents) || req.priceCents < 0) refuse('VALIDATION_ERROR', 'price must be whole cents ≥ 0', 'price_cents');
    // The bid's row is written after the workflow took it (db/bids.ts), so what its columns
    // cannot hold is refused here, before it is taken: a bid Postgres would refuse must never
    // reach the award's or the ending's write.
    if (!Number.isSafeInteger(req.etaSeconds) || req.etaSeconds <= 0 || req.etaSeconds > MAX_INT4) refuse('VALIDATION_ERROR', 'ETA must be a positive number of seconds', 'eta_seconds');
    const messageProblem = req.message === undefined || req.message === null ? null : typeof req.message === 'string' ? textProblem(req.message) : 'must be text';
    if (messageProblem) refuse('VALIDATION_ERROR', `message ${messageProblem}`, 'message');
    if (!(req.confidence >= 0 && req.confidence <= 1)) refuse('VALIDATION_ERROR', 'confidence must be between 0 and 1', 'confidence');
    if (req.priceCents > this.input.rewardCents) {
      refuse('PRICE_ABOVE_REWARD', `price ${req.priceCents} exceeds the reward of ${this.input.rewardCents} cents`, 'price_cents');
    }
    if (this.#bids.has(req.agentId) && !req.replace) {
      refuse('DUPLICATE_BID', 'this agent already bid; send replace: true to replace the bid');
    }
  }

  validateCloseBidding(caller: Caller): void {
    this.assertOwner(caller);
    if (this.#decided !== 'BIDDING' || !this.#biddingOpen || this.cancelRequested) refuse('BIDDING_CLOSED', 'bidding is already closed');
  }

  validateManualAward(caller: Caller & { bidId: string }): void {
    this.assertOwner(caller);
    if (this.input.awardMode !== 'manual') refuse('INVALID_STATE', 'this contract is awarded automatically');
    if (this.#decided !== 'BIDDING' || this.#manualAwardBidId !== null || this.cancelRequested) {
      refuse('INVALID_STATE', `cannot award a contract that is ${this.cancelRequested ? 'being cancelled' : this.#decided}`);
    }
    if (![...this.#bids.values()].some((b) => b.bidId === caller.bidId)) refuse('BID_NOT_FOUND', `no bid ${caller.bidId} on this contract`, 'bid_id');
  }

  /**
   * A delivery is taken from the award on: one sent while the escrow is being held waits in its
   * handler for the work to start (IN_PROGRESS), so the awarded agent is never refused for
   * delivering as soon as it hears of its award. An agent that never bid is told the contract
   * does not exist; one that bid and was not awarded, that it may not deliver.
   */
  validateDeliver(req: DeliveryRequest, nowMs: number): void {
    if (!this.#award || req.agentId !== this.#award.agentId) {
      if (!this.#bids.has(req.agentId) && !this.#failedAgents.includes(req.agentId)) refuse('NOT_FOUND', 'contract not found', 'contract_id');
      refuse('NOT_AWARDED_AGENT', 'only the awarded agent may deliver');
    }
    if (this.#plan) refuse('INVALID_STATE', "this agent's binary runs in the sandbox; its output is the delivery");
    if (this.#delivery) refuse('INVALID_STATE', 'this contract already has its delivery');
    if ((this.#decided !== 'IN_PROGRESS' && this.#decided !== 'AWARDED') || this.cancelRequested) {
      refuse('INVALID_STATE', `cannot deliver to a contract that is ${this.cancelRequested ? 'being cancelled' : this.#decided}`);
    }
    if (this.#deliveryDeadline && nowMs >= Date.parse(this.#deliveryDeadline)) refuse('INVALID_STATE', 'the delivery deadline has passed');
  }

  validateReview(caller: Caller): void {
    this.assertOwner(caller);
    if (this.#review) refuse('INVALID_STATE', this.reviewedMessage(this.#review.view));
    if (!this.#delivery || TERMINAL_STATUSES.includes(this.#decided) || this.#settling) refuse('INVALID_STATE', `cannot review a contract that is ${this.#decided}: there is no delivery to review`);
  }

  private reviewedMessage(review: Review): string {
    if (this.#reviewedByChecks) {
      return review.decision === 'rejected'
        ? 'the delivery failed its acceptance checks and was rejected automatically'
        : 'the delivery passed its acceptance checks and was accepted automatically (on_pass: settle)';
    }
    return review.automatic ? 'the review window closed and the delivery was accepted' : 'this delivery was already reviewed';
  }

  validateAccept(req: Caller & { rating: number }): void {
    this.validateReview(req);
    if (!Number.isInteger(req.rating) || req.rating < 1 || req.rating > 5) {
      refuse('VALIDATION_ERROR', 'rating must be an integer from 1 to 5', 'rating');
    }
  }

  validateCancel(caller: Caller): void {
    this.assertOwner(caller);
    if (this.cancelRequested) refuse('INVALID_STATE', 'this contract is already being cancelled');
    if (this.#delivery) refuse('INVALID_STATE', 'the agent has delivered: accept or reject the delivery instead of cancelling');
    if (TERMINAL_STATUSES.includes(this.#decided) || this.#settling) refuse('INVALID_STATE', `cannot cancel a contract that is ${this.#decided}`);
  }

  view(): ContractState {
    return {
      contractId: this.input.contractId,
      userId: this.input.userId,
      status: this.#status,
      intent: this.input.intent,
      rewardCents: this.input.rewardCents,
      currency: this.input.currency,
      awardMode: this.input.awardMode,
      biddingOpen: this.#biddingOpen,
      biddingDeadline: this.biddingDeadline,
      awardDeadline: this.#awardDeadline,
      deliveryDeadline: this.#deliveryDeadline,
      reviewDeadline: this.#reviewDeadline,
      bids: [...this.#bids.values()],
      award: this.#award,
      payment: this.#payment,
      delivery: this.#delivery?.view ?? null,
      execution: this.#execution,
      review: this.#review?.view ?? null,
      validation: this.#validation,
      failureReason: this.#failureReason,
      statusDetail: this.#statusDetail,
      closedAt: this.#closedAt,
    };
  }
}
