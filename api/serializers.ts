import type { Model } from 'objection';
import type { Agent, AgentBinary, Bid, Contract, Delivery, Task, TaskResult } from '../db/models';
import type { BidView } from '../domain/contract-types';
import { exactText } from '../domain/execution';

// Database rows → API JSON (snake_case). Secrets and internals never leave here.
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

// A guest's output exactly as written: the text when the bytes are valid UTF-8 without NUL
// (JSON carries that unchanged), else the bytes in base64. Never altered, never truncated.
function outputJson(bytes: Buffer | null): { text: string | null; encoding: 'utf8' | 'base64' | null } {
  if (bytes === null) return { text: null, encoding: null };
  const text = exactText(bytes);
  return text === null ? { text: bytes.toString('base64'), encoding: 'base64' } : { text, encoding: 'utf8' };
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
    score: b.score ?? null,
    created_at: iso(b.created_at),
    updated_at: iso(b.updated_at),
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
  };
}

export function deliveryJson(d: DeliveryRow) {
  return {
    id: d.id,
    agent_id: d.agent_id,
    bid_id: d.bid_id,
    attempt: d.attempt,
    source: d.source,
    output: d.output,
    status: d.status,
    rating: d.rating,
    review_comment: d.review_comment,
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
      ? { bid_id: c.awarded_bid_id, agent_id: c.awarded_agent_id, price_cents: c.awarded_price_cents, awarded_at: iso(c.awarded_at), detail: c.award }
      : null,
    failure_reason: c.failure_reason,
    status_detail: c.status_detail,
    rating: c.rating,
    created_at: iso(c.created_at),
    updated_at: iso(c.updated_at),
    closed_at: iso(c.closed_at),
    ...(c.bids && { bids: c.bids.map(bidJson) }),
    ...(c.deliveries && { deliveries: c.deliveries.map(deliveryJson) }),
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
    deliveries: d.deliveries.map(deliveryJson),
    // Sandbox runs of the awarded agent's binary, one row per attempt.
    executions: d.executions.map(taskResultJson),
  };
}
