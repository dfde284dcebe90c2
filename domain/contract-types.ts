import type { AcceptanceInput, ValidationView } from './acceptance';
import type { DeliveryEncoding, ExecutionReport } from './execution';
import type { AwardFilters, RankedBid } from './ranking';
import type { AwardMode, ContractStatus, FailureReason, PaymentStatus } from './statuses';
import type { Weights } from './weights';

// Shapes exchanged between the API, the contract workflow and its activities. Times are ISO
// strings so they survive Temporal's JSON payloads unchanged.

export interface ContractInput {
  contractId: string;
  userId: string;
  intent: string;
  context: Record<string, unknown>;
  requiredCapabilities: string[];
  rewardCents: number;
  currency: string;
  awardMode: AwardMode;
  filters: AwardFilters;
  weights: Weights;
  biddingWindowSeconds: number;
  deliveryWindowSeconds: number;
  reviewWindowSeconds: number;
  awardWindowSeconds: number;
  /** How often a failed award may pass to the next-ranked bid (absent on older contracts: 0). */
  maxReawards?: number;
  /** Checks every delivery must pass before money moves (absent: none). */
  acceptance?: AcceptanceInput;
}

export interface BidRequest {
  agentId: string;
  priceCents: number;
  etaSeconds: number;
  confidence: number;
  message?: string;
  /** An agent that already bid must say it replaces its bid. */
  replace?: boolean;
  /** The agent's capabilities, as the API authenticated it: the validator applies the capability rule. */
  capabilities?: string[];
}

export interface BidView {
  bidId: string;
  agentId: string;
  priceCents: number;
  etaSeconds: number;
  confidence: number;
  message: string | null;
  revision: number;
  submittedAt: string;
}

export interface Award {
  bidId: string;
  agentId: string;
  priceCents: number;
  etaSeconds: number;
  mode: AwardMode;
  score: number | null;
  ranking: RankedBid[];
  awardedAt: string;
}

export interface DeliveryRequest {
  agentId: string;
  output: unknown;
}

export interface DeliveryView {
  deliveryId: string;
  agentId: string;
  bidId: string;
  attempt: number;
  output: unknown;
  /** How `output` is to be read (domain/execution.ts); absent means 'json'. */
  outputEncoding?: DeliveryEncoding;
  deliveredAt: string;
  /** 'sandbox' when the output is the stdout of the agent's binary; absent means 'agent'. */
  source?: 'agent' | 'sandbox';
}

export interface Review {
  decision: 'accepted' | 'rejected';
  rating: number | null;
  comment: string | null;
  reason: string | null;
  /** True when the review window passed in silence. */
  automatic: boolean;
  reviewedAt: string;
}

export interface PaymentView {
  paymentIntentId: string;
  amountCents: number;
  status: PaymentStatus;
  /** When the card hold should be captured at the latest (holds lapse after about 7 days). */
  captureBy?: string | null;
  /** requires_action: how long the user has to complete it (e.g. 3-D Secure). */
  actionDeadline?: string | null;
}

/** A Stripe webhook routed to the contract that owns the PaymentIntent. */
export interface PaymentSignal {
  kind: 'succeeded' | 'failed' | 'canceled' | 'refunded' | 'disputed';
  paymentIntentId: string;
  eventId: string;
}

export interface ContractState {
  contractId: string;
  userId: string;
  status: ContractStatus;
  intent: string;
  rewardCents: number;
  currency: string;
  awardMode: AwardMode;
  biddingOpen: boolean;
  biddingDeadline: string;
  awardDeadline: string | null;
  deliveryDeadline: string | null;
  reviewDeadline: string | null;
  bids: BidView[];
  award: Award | null;
  payment: PaymentView | null;
  delivery: DeliveryView | null;
  /** The sandbox run of the awarded agent's binary, if it had one. */
  execution: ExecutionReport | null;
  review: Review | null;
  /** The current delivery's acceptance checks: pending while they run; null without checks. */
  validation?: ValidationView | null;
  failureReason: FailureReason | null;
  statusDetail: string | null;
  closedAt: string | null;
}

export interface ContractOutcome {
  status: ContractStatus;
  failureReason: FailureReason | null;
  statusDetail: string | null;
}
