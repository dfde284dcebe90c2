import type { Model } from 'objection';
import type { Agent, AgentBinary, Bid, Contract, Delivery, Task, TaskResult } from '../db/models';
import { PENDING_VALIDATION, type ValidationView } from '../domain/acceptance';
import type { Award, BidView, ContractState, DeliveryView, PaymentView, Review } from '../domain/contract-types';
import { exactOutput, type ExecutionReport } from '../domain/execution';
import type { RankedBid } from '../domain/ranking';

// Database rows and workflow state → API JSON (snake_case). Secrets and internals never leave
// here. The workflow's shapes (domain/contract-types.ts, domain/ranking.ts) are camelCase in
// Temporal and in the jsonb columns that keep them (contracts.award, bids.score); they are
// renamed here, field by field, and nowhere else. Free-form JSON a client sent (context,
// output, input, message bodies) is passed through as it came.
const iso = (d: Date | null | undefined) => (d ? new Date(d).toISOString() : null);

/** A row's columns: a model read from Postgres, or the same fields built from a workflow's state. */
export type Row<M extends Model> = Omit<M, keyof Model>;
export type ContractRow = Row<Contract>;
export type BidRow = Row<Bid>;
export type DeliveryRow = Row<Delivery>;

export function agentJson(a: Agent, online = false) {
  return {
    id: a.id,
    owner_id: a.owner_id,
    name: a.name,
    description: a.description,
    version: a.version,
    capabilities: a.capabilities,
    status: a.status,
    price_cents: a.price_cents,
    tasks_completed: a.tasks_completed,
    rating: a.rating,
    binary: a.binary_hash ? { sha256: a.binary_hash, size_bytes: a.binary_size, url: a.binary_url } : null,
    online,
    last_seen_at: iso(a.last_seen_at),
    created_at: iso(a.created_at),
    updated_at: iso(a.updated_at),
  };
}

export function agentBinaryJson(b: AgentBinary) {
  return { sha256: b.sha256, version: b.version, size_bytes: b.size_bytes, url: b.url, created_at: iso(b.created_at) };
}

export function taskJson(t: Task) {
  return {
    id: t.id,
    agent_id: t.agent_id,
    status: t.status,
    input: t.input,
    timeout_seconds: t.timeout_seconds,
    binary_sha256: t.binary_hash,
    workflow_id: t.workflow_id,
    created_at: iso(t.created_at),
    started_at: iso(t.started_at),
    finished_at: iso(t.finished_at),
  };
}

// A guest's output exactly as written (domain/execution.ts exactOutput). Never altered, never truncated.
function outputJson(bytes: Buffer | null): { text: string | null; encoding: 'utf8' | 'base64' | null } {
  return bytes === null ? { text: null, encoding: null } : exactOutput(bytes);
}

export function taskResultJson(r: TaskResult) {
  const stdout = outputJson(r.stdout);
  const stderr = outputJson(r.stderr);
  return {
    round: r.round,
    attempt: r.attempt,
    outcome: r.outcome,
    exit_code: r.exit_code,
    stdout: stdout.text,
    stdout_encoding: stdout.encoding,
    stdout_sha256: r.stdout_sha256,
    stdout_bytes: r.stdout_bytes,
    stderr: stderr.text,
    stderr_encoding: stderr.encoding,
    stderr_sha256: r.stderr_sha256,
    stderr_bytes: r.stderr_bytes,
    duration_ms: r.duration_ms,
    fuel: r.fuel_consumed,
    cpu_time_us: r.cpu_time_us,
    error: r.error,
    created_at: iso(r.created_at),
  };
}

export function bidJson(b: BidRow) {
  return {
    id: b.id,
    agent_id: b.agent_id,
    price_cents: b.price_cents,
    eta_seconds: b.eta_seconds,
    confidence: b.confidence,
    message: b.message,
    status: b.status,
    revision: b.revision,
    score: b.score ? rankedBidJson(b.score) : null,
    created_at: iso(b.created_at),
    updated_at: iso(b.updated_at),
  };
}

/** One bid's place in an award's ranking: its factors and score, or the filters that excluded it. */
export function rankedBidJson(r: RankedBid) {
  return {
    bid_id: r.bidId,
    agent_id: r.agentId,
    price_cents: r.priceCents,
    eta_seconds: r.etaSeconds,
    eligible: r.eligible,
    excluded_by: r.excludedBy,
    factors: r.factors && { price: r.factors.price, performance: r.factors.performance, speed: r.factors.speed, reputation: r.factors.reputation },
    score: r.score,
    rank: r.rank,
  };
}

/** How the award was decided: the winner, the mode, its score and the whole ranking. */
export function awardJson(a: Award) {
  return {
    bid_id: a.bidId,
    agent_id: a.agentId,
    price_cents: a.priceCents,
    eta_seconds: a.etaSeconds,
    mode: a.mode,
    score: a.score,
    ranking: a.ranking.map(rankedBidJson),
    awarded_at: a.awardedAt,
  };
}

// A bid as the workflow accepted it, answered to the bidding agent.
export function acceptedBidJson(contractId: string, b: BidView) {
  return {
    id: b.bidId,
    contract_id: contractId,
    agent_id: b.agentId,
    price_cents: b.priceCents,
    eta_seconds: b.etaSeconds,
    confidence: b.confidence,
    message: b.message,
    revision: b.revision,
    submitted_at: b.submittedAt,
  };
}

// What an agent sees of an open contract: the work and its terms, not the owner.
export function openContractJson(c: Contract) {
  return {
    id: c.id,
    intent: c.intent,
    context: c.context,
    required_capabilities: c.required_capabilities,
    reward_cents: c.reward_cents,
    currency: c.currency.trim(),
    filters: c.filters,
    bidding_deadline: iso(c.bidding_deadline),
    delivery_window_seconds: c.delivery_window_seconds,
    // What a delivery must pass (an agent can check its output against the schema first).
    acceptance: c.acceptance ?? null,
  };
}

/**
 * A delivery's acceptance checks: its result once they ran; `pending` while a contract with
 * checks runs them; null when the contract has none.
 */
function validationJson(d: DeliveryRow, hasChecks: boolean): ValidationView | null {
  return d.validation ?? (hasChecks ? PENDING_VALIDATION : null);
}

export function deliveryJson(d: DeliveryRow, hasChecks = false) {
  return {
    id: d.id,
    agent_id: d.agent_id,
    bid_id: d.bid_id,
    attempt: d.attempt,
    source: d.source,
    output: d.output,
    output_encoding: d.output_encoding,
    status: d.status,
    rating: d.rating,
    review_comment: d.review_comment,
    validation: validationJson(d, hasChecks),
    is_validated: d.is_validated ?? false,
    delivered_at: iso(d.delivered_at),
    reviewed_at: iso(d.reviewed_at),
  };
}

export function contractJson(c: ContractRow) {
  return {
    id: c.id,
    workflow_id: c.workflow_id,
    status: c.status,
    intent: c.intent,
    context: c.context,
    required_capabilities: c.required_capabilities,
    reward_cents: c.reward_cents,
    currency: c.currency.trim(),
    award_mode: c.award_mode,
    filters: c.filters,
    weights: c.weights,
    bidding_deadline: iso(c.bidding_deadline),
    delivery_window_seconds: c.delivery_window_seconds,
    review_window_seconds: c.review_window_seconds,
    delivery_deadline: iso(c.delivery_deadline),
    review_deadline: iso(c.review_deadline),
    award: c.awarded_bid_id
      ? {
          bid_id: c.awarded_bid_id,
          agent_id: c.awarded_agent_id,
          price_cents: c.awarded_price_cents,
          awarded_at: iso(c.awarded_at),
          detail: c.award ? awardJson(c.award) : null,
        }
      : null,
    acceptance: c.acceptance ?? null,
    failure_reason: c.failure_reason,
    status_detail: c.status_detail,
    rating: c.rating,
    created_at: iso(c.created_at),
    updated_at: iso(c.updated_at),
    closed_at: iso(c.closed_at),
    ...(c.bids && { bids: c.bids.map(bidJson) }),
    ...(c.deliveries && { deliveries: c.deliveries.map((x) => deliveryJson(x, c.acceptance != null)) }),
  };
}

/** A contract with its history: what GET /contracts/:id answers, and what every update answers. */
export interface ContractDetail {
  contract: ContractRow;
  bids: BidRow[];
  deliveries: DeliveryRow[];
  executions: TaskResult[];
}

export function contractDetailJson(d: ContractDetail) {
  return {
    ...contractJson(d.contract),
    bids: d.bids.map(bidJson),
    deliveries: d.deliveries.map((x) => deliveryJson(x, d.contract.acceptance != null)),
    // Sandbox runs of the awarded agent's binary, one row per attempt.
    executions: d.executions.map(taskResultJson),
  };
}

// The workflow's live view (the getState query), for GET /contracts/:id/state.

function paymentViewJson(p: PaymentView) {
  return {
    payment_intent_id: p.paymentIntentId,
    amount_cents: p.amountCents,
    status: p.status,
    capture_by: p.captureBy ?? null,
    action_deadline: p.actionDeadline ?? null,
  };
}

function deliveryViewJson(d: DeliveryView) {
  return {
    id: d.deliveryId,
    agent_id: d.agentId,
    bid_id: d.bidId,
    attempt: d.attempt,
    source: d.source ?? 'agent',
    output: d.output,
    output_encoding: d.outputEncoding ?? 'json',
    delivered_at: d.deliveredAt,
  };
}

// The run as the workflow was told of it: its output exactly (text, or base64), with the bytes' hash and length.
function executionReportJson(e: ExecutionReport) {
  return {
    task_result_id: e.taskResultId,
    attempt: e.attempt,
    outcome: e.outcome,
    exit_code: e.exitCode,
    stdout: e.stdout,
    stdout_encoding: e.stdoutEncoding,
    stdout_sha256: e.stdoutSha256,
    stdout_bytes: e.stdoutBytes,
    stderr: e.stderr,
    stderr_encoding: e.stderrEncoding,
    stderr_sha256: e.stderrSha256,
    stderr_bytes: e.stderrBytes,
    duration_ms: e.durationMs,
    fuel_consumed: e.fuelConsumed,
    message: e.message,
  };
}

function reviewJson(r: Review) {
  return { decision: r.decision, rating: r.rating, comment: r.comment, reason: r.reason, automatic: r.automatic, reviewed_at: r.reviewedAt };
}

export function contractStateJson(s: ContractState) {
  return {
    contract_id: s.contractId,
    user_id: s.userId,
    status: s.status,
    intent: s.intent,
    reward_cents: s.rewardCents,
    currency: s.currency,
    award_mode: s.awardMode,
    bidding_open: s.biddingOpen,
    bidding_deadline: s.biddingDeadline,
    award_deadline: s.awardDeadline,
    delivery_deadline: s.deliveryDeadline,
    review_deadline: s.reviewDeadline,
    bids: s.bids.map((b) => acceptedBidJson(s.contractId, b)),
    award: s.award && awardJson(s.award),
    payment: s.payment && paymentViewJson(s.payment),
    delivery: s.delivery && deliveryViewJson(s.delivery),
    execution: s.execution && executionReportJson(s.execution),
    review: s.review && reviewJson(s.review),
    validation: s.validation ?? null,
    failure_reason: s.failureReason,
    status_detail: s.statusDetail,
    closed_at: s.closedAt,
  };
}
