import { ApplicationFailure } from '@temporalio/workflow';
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
import type { ErrorCode } from '../domain/errors';
import type { Caller } from './contract-messages';
import type { ExecutionReport } from '../domain/execution';
import { CANCELLABLE_STATUSES, TERMINAL_STATUSES, type ContractStatus, type FailureReason } from '../domain/statuses';

// The contract's in-memory state and the synchronous checks that guard every update. No I/O
// and no clock of its own: the workflow passes times in, so this class is deterministic.

export function refuse(type: ErrorCode, message: string, field?: string): never {
  throw ApplicationFailure.create({ type, message, nonRetryable: true, details: field ? [{ field }] : [] });
}


export class ContractProcess {
  status: ContractStatus = 'BIDDING';
  biddingOpen = true;
  readonly biddingDeadline: string;
  awardDeadline: string | null = null;
  deliveryDeadline: string | null = null;
  reviewDeadline: string | null = null;
  readonly bids = new Map<string, BidView>();
  manualAwardBidId: string | null = null;
  award: Award | null = null;
  payment: PaymentView | null = null;
  delivery: DeliveryView | null = null;
  review: Review | null = null;
  cancelReason: string | null = null;
  failureReason: FailureReason | null = null;
  statusDetail: string | null = null;
  closedAt: string | null = null;
  /** The awarded agent's binary is running in the sandbox; its output will be the delivery. */
  executing = false;
  execution: ExecutionReport | null = null;
  /** Stripe webhooks about this contract's payment, in arrival order. */
  readonly paymentSignals: PaymentSignal[] = [];
  /** Tail of the serial payment operations (capture, void, refund never overlap). */
  paymentQueue: Promise<void> = Promise.resolve();
  /** Settlement has begun: the early-capture timer stands down. */
  settling = false;
  /** Which award this is: 1, then 2… after re-awards; keys and delivery attempts follow it. */
  round = 1;
  reawards = 0;
  readonly failedAgents: string[] = [];
  /** Update handlers still writing to Postgres; the main flow waits for them before moving on. */
  pendingWrites = 0;
  /** The contract's row exists (the `created` update answers then). */
  persisted = false;
  /** Why the row could not be written; the workflow ends without a contract. */
  creationFailure: Error | null = null;

  constructor(
    readonly input: ContractInput,
    startedAtMs: number,
  ) {
    this.biddingDeadline = new Date(startedAtMs + input.biddingWindowSeconds * 1000).toISOString();
  }

  get cancelRequested(): boolean {
    return this.cancelReason !== null;
  }

  get isTerminal(): boolean {
    return TERMINAL_STATUSES.includes(this.status);
  }

  private assertOwner(caller: Caller): void {
    if (caller.userId !== this.input.userId) refuse('FORBIDDEN', 'only the contract owner may do this');
  }

  private assertStatus(allowed: readonly ContractStatus[], action: string): void {
    if (!allowed.includes(this.status) || this.cancelRequested) {
      refuse('INVALID_STATE', `cannot ${action} a contract that is ${this.cancelRequested ? 'being cancelled' : this.status}`);
    }
  }

  validateBid(req: BidRequest): void {
    if (this.status !== 'BIDDING' || !this.biddingOpen || this.cancelRequested) {
      refuse('BIDDING_CLOSED', 'bidding on this contract is closed');
    }
    if (!Number.isSafeInteger(req.priceCents) || req.priceCents < 0) refuse('VALIDATION_ERROR', 'price must be whole cents ≥ 0', 'price_cents');
    if (!Number.isSafeInteger(req.etaSeconds) || req.etaSeconds <= 0) refuse('VALIDATION_ERROR', 'ETA must be a positive number of seconds', 'eta_seconds');
    if (!(req.confidence >= 0 && req.confidence <= 1)) refuse('VALIDATION_ERROR', 'confidence must be between 0 and 1', 'confidence');
    if (req.priceCents > this.input.rewardCents) {
      refuse('PRICE_ABOVE_REWARD', `price ${req.priceCents} exceeds the reward of ${this.input.rewardCents} cents`, 'price_cents');
    }
    if (this.bids.has(req.agentId) && !req.replace) {
      refuse('DUPLICATE_BID', 'this agent already bid; send replace: true to replace the bid');
    }
  }

  applyBid(req: BidRequest, newBidId: string, nowIso: string): BidView {
    const previous = this.bids.get(req.agentId);
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
    this.bids.set(req.agentId, bid);
    return bid;
  }

  /**
   * Takes back a bid whose write failed: the agent's earlier bid, if any, stands. A newer bid
   * of the same agent that came meanwhile is left alone, and a manual award of the taken-back
   * bid is withdrawn (the owner may award again within the window).
   */
  undoBid(bid: BidView, previous: BidView | undefined): void {
    if (this.bids.get(bid.agentId) !== bid) return;
    if (previous) this.bids.set(bid.agentId, previous);
    else this.bids.delete(bid.agentId);
    if (this.manualAwardBidId === bid.bidId && !previous) this.manualAwardBidId = null;
  }

  validateCloseBidding(caller: Caller): void {
    this.assertOwner(caller);
    if (this.status !== 'BIDDING' || !this.biddingOpen || this.cancelRequested) refuse('BIDDING_CLOSED', 'bidding is already closed');
  }

  validateManualAward(caller: Caller & { bidId: string }): BidView {
    this.assertOwner(caller);
    if (this.input.awardMode !== 'manual') refuse('INVALID_STATE', 'this contract is awarded automatically');
    if (this.status !== 'BIDDING' || this.manualAwardBidId !== null || this.cancelRequested) {
      refuse('INVALID_STATE', `cannot award a contract that is ${this.status}`);
    }
    const bid = [...this.bids.values()].find((b) => b.bidId === caller.bidId);
    if (!bid) refuse('BID_NOT_FOUND', `no bid ${caller.bidId} on this contract`, 'bid_id');
    return bid;
  }

  validateDeliver(req: DeliveryRequest): void {
    if (!this.award || req.agentId !== this.award.agentId) refuse('NOT_AWARDED_AGENT', 'only the awarded agent may deliver');
    if (this.status !== 'IN_PROGRESS' || this.delivery !== null || this.cancelRequested) {
      refuse('INVALID_STATE', `cannot deliver to a contract that is ${this.status}`);
    }
    if (this.executing) refuse('INVALID_STATE', "the agent's binary is running in the sandbox; its output is the delivery");
  }

  validateReview(caller: Caller): void {
    this.assertOwner(caller);
    if (this.status !== 'DELIVERED' || this.review !== null) refuse('INVALID_STATE', `cannot review a contract that is ${this.status}`);
  }

  validateAccept(req: Caller & { rating: number }): void {
    this.validateReview(req);
    if (!Number.isInteger(req.rating) || req.rating < 1 || req.rating > 5) {
      refuse('VALIDATION_ERROR', 'rating must be an integer from 1 to 5', 'rating');
    }
  }

  validateCancel(caller: Caller): void {
    this.assertOwner(caller);
    this.assertStatus(CANCELLABLE_STATUSES, 'cancel');
  }

  view(): ContractState {
    return {
      contractId: this.input.contractId,
      userId: this.input.userId,
      status: this.status,
      intent: this.input.intent,
      rewardCents: this.input.rewardCents,
      currency: this.input.currency,
      awardMode: this.input.awardMode,
      biddingOpen: this.biddingOpen,
      biddingDeadline: this.biddingDeadline,
      awardDeadline: this.awardDeadline,
      deliveryDeadline: this.deliveryDeadline,
      reviewDeadline: this.reviewDeadline,
      bids: [...this.bids.values()],
      award: this.award,
      payment: this.payment,
      delivery: this.delivery,
      execution: this.execution,
      review: this.review,
      failureReason: this.failureReason,
      statusDetail: this.statusDetail,
      closedAt: this.closedAt,
    };
  }
}
