import type { Knex } from 'knex';
import { isoSql, queryRows } from '../db/json-reads';
import type { Contract, Models, TaskResult } from '../db/models';
import { PENDING_VALIDATION } from '../domain/acceptance';
import { notFound } from './errors';
import { contractDetailJson, type BidRow, type ContractDetail, type ContractRow, type DeliveryRow } from './serializers';

export const workflowIdFor = (contractId: string) => `contract-${contractId}`;

// POST /contracts answers only after the workflow wrote the row (update-with-start), so a
// contract either has its row or does not exist.
export async function findContract(deps: { models: Models }, id: string): Promise<Contract> {
  const row = await deps.models.Contract.query().findById(id).whereNull('deleted_at');
  if (!row) throw notFound('contract');
  return row;
}

// Users see only their own contracts; a foreign one is indistinguishable from a missing one.
export async function findOwnedContract(deps: { models: Models }, id: string, userId: string): Promise<Contract> {
  const contract = await findContract(deps, id);
  if (contract.user_id !== userId) throw notFound('contract');
  return contract;
}

// A contract with its bids, deliveries and sandbox runs, in order, as ONE statement: Postgres
// builds the rows as JSON (each row whole, as `SELECT *` reads it) and the ownership check is
// part of the WHERE, so a foreign contract is the same empty answer as a missing one. The
// rows go through the same serializers as before (api/serializers.ts), so the API's JSON is
// unchanged; only the column types JSON cannot carry are restored below.
const DETAIL_JSON = `json_build_object(
  'contract', to_json(c),
  'bids', coalesce((SELECT json_agg(b ORDER BY b.created_at, b.id) FROM bids b WHERE b.contract_id = c.id), '[]'),
  'deliveries', coalesce((SELECT json_agg(d ORDER BY d.attempt, d.id) FROM deliveries d WHERE d.contract_id = c.id), '[]'),
  'executions', coalesce((SELECT json_agg(t ORDER BY t.round, t.attempt, t.id) FROM task_results t WHERE t.contract_id = c.id), '[]')
)`;
const DETAIL_SQL = `SELECT ${DETAIL_JSON} AS detail FROM contracts c WHERE c.id = ? AND c.deleted_at IS NULL`;

type Json = Record<string, unknown>;

// JSON carries timestamps as ISO text (microseconds, with offset) and bytea as '\x' + hex;
// the rows' types (db/models.ts) have Dates and Buffers. Dates are cut to milliseconds exactly
// as pg's own parser does. bigint and numeric arrive as JSON numbers, as the pg type parsers
// (db/knex.ts) make them.
const toDate = (v: unknown) => (v == null ? null : new Date(v as string));
const toBytes = (v: unknown) => (v == null ? null : Buffer.from((v as string).slice(2), 'hex'));
function withDates<T>(row: Json, fields: readonly string[]): T {
  for (const f of fields) if (f in row) row[f] = toDate(row[f]);
  return row as T;
}
const CONTRACT_DATES = ['bidding_deadline', 'delivery_deadline', 'review_deadline', 'awarded_at', 'delivered_at', 'closed_at', 'created_at', 'updated_at', 'deleted_at'] as const;
const BID_DATES = ['created_at', 'updated_at'] as const;
const DELIVERY_DATES = ['delivered_at', 'reviewed_at', 'created_at', 'updated_at'] as const;
const EXECUTION_DATES = ['created_at', 'updated_at'] as const;

function detailFromJson(d: { contract: Json; bids: Json[]; deliveries: Json[]; executions: Json[] }): ContractDetail {
  return {
    contract: withDates<ContractRow>(d.contract, CONTRACT_DATES),
    bids: d.bids.map((b) => withDates<BidRow>(b, BID_DATES)),
    deliveries: d.deliveries.map((x) => withDates<DeliveryRow>(x, DELIVERY_DATES)),
    executions: d.executions.map((t) => {
      t.stdout = toBytes(t.stdout);
      t.stderr = toBytes(t.stderr);
      return withDates<TaskResult>(t, EXECUTION_DATES);
    }),
  };
}

/**
 * A contract with its bids, deliveries and sandbox runs, in order, in one statement (the
 * contract answers of the update routes); a 404 when it is missing or deleted.
 */
export async function loadContractDetail(deps: { knex: Knex }, contract: Pick<Contract, 'id'>): Promise<ContractDetail> {
  const { rows } = await deps.knex.raw(DETAIL_SQL, [contract.id]);
  if (!rows[0]) throw notFound('contract');
  return detailFromJson(rows[0].detail);
}

// --- GET /contracts/:id as JSON text built by Postgres -----------------------------------------
//
// The answer contractDetailJson (api/serializers.ts) gives, built in the statement and sent on
// as text. The serializers stay the one definition: test/integration/contract-detail.test.ts
// checks this statement against them, field for field, in every state. A contract with sandbox
// runs takes the serializers' path (the statement returns its rows instead): a run's output is
// text or base64 by a UTF-8 check (domain/execution.ts exactText) that SQL cannot repeat exactly.

/** A workflow RankedBid (camelCase jsonb) as rankedBidJson writes it. */
const rankedSql = (r: string) => `json_build_object(
  'bid_id', ${r}->'bidId', 'agent_id', ${r}->'agentId', 'price_cents', ${r}->'priceCents', 'eta_seconds', ${r}->'etaSeconds',
  'eligible', ${r}->'eligible', 'excluded_by', ${r}->'excludedBy',
  'factors', CASE WHEN jsonb_typeof(${r}->'factors') = 'object' THEN json_build_object(
    'price', ${r}->'factors'->'price', 'performance', ${r}->'factors'->'performance', 'speed', ${r}->'factors'->'speed', 'reputation', ${r}->'factors'->'reputation') END,
  'score', ${r}->'score', 'rank', ${r}->'rank')`;

const AWARD_SQL = `CASE WHEN c.awarded_bid_id IS NOT NULL THEN json_build_object(
  'bid_id', c.awarded_bid_id, 'agent_id', c.awarded_agent_id, 'price_cents', c.awarded_price_cents, 'awarded_at', ${isoSql('c.awarded_at')},
  'detail', CASE WHEN jsonb_typeof(c.award) = 'object' THEN json_build_object(
    'bid_id', c.award->'bidId', 'agent_id', c.award->'agentId', 'price_cents', c.award->'priceCents', 'eta_seconds', c.award->'etaSeconds',
    'mode', c.award->'mode', 'score', c.award->'score',
    'ranking', (SELECT coalesce(json_agg(${rankedSql('r.x')} ORDER BY r.n), '[]') FROM jsonb_array_elements(c.award->'ranking') WITH ORDINALITY AS r(x, n)),
    'awarded_at', c.award->'awardedAt') END) END`;

const BIDS_SQL = `(SELECT coalesce(json_agg(json_build_object(
  'id', b.id, 'agent_id', b.agent_id, 'price_cents', b.price_cents, 'eta_seconds', b.eta_seconds, 'confidence', b.confidence::float8,
  'message', b.message, 'status', b.status, 'revision', b.revision,
  'score', CASE WHEN jsonb_typeof(b.score) = 'object' THEN ${rankedSql('b.score')} END,
  'created_at', ${isoSql('b.created_at')}, 'updated_at', ${isoSql('b.updated_at')}) ORDER BY b.created_at, b.id), '[]')
  FROM bids b WHERE b.contract_id = c.id)`;

const DELIVERIES_SQL = `(SELECT coalesce(json_agg(json_build_object(
  'id', d.id, 'agent_id', d.agent_id, 'bid_id', d.bid_id, 'attempt', d.attempt, 'source', d.source, 'output', d.output,
  'output_encoding', d.output_encoding, 'status', d.status, 'rating', d.rating, 'review_comment', d.review_comment,
  'validation', CASE WHEN jsonb_typeof(d.validation) = 'object' THEN d.validation WHEN c.acceptance IS NOT NULL THEN $3::jsonb END,
  'is_validated', coalesce(d.is_validated, false),
  'delivered_at', ${isoSql('d.delivered_at')}, 'reviewed_at', ${isoSql('d.reviewed_at')}) ORDER BY d.attempt, d.id), '[]')
  FROM deliveries d WHERE d.contract_id = c.id)`;

const CONTRACT_JSON_SQL = `json_build_object(
  'id', c.id, 'workflow_id', c.workflow_id, 'status', c.status, 'intent', c.intent, 'context', c.context,
  'required_capabilities', c.required_capabilities, 'reward_cents', c.reward_cents, 'currency', btrim(c.currency),
  'award_mode', c.award_mode, 'filters', c.filters, 'weights', c.weights, 'bidding_deadline', ${isoSql('c.bidding_deadline')},
  'delivery_window_seconds', c.delivery_window_seconds, 'review_window_seconds', c.review_window_seconds,
  'delivery_deadline', ${isoSql('c.delivery_deadline')}, 'review_deadline', ${isoSql('c.review_deadline')},
  'award', ${AWARD_SQL}, 'acceptance', c.acceptance, 'failure_reason', c.failure_reason, 'status_detail', c.status_detail,
  'rating', c.rating, 'created_at', ${isoSql('c.created_at')}, 'updated_at', ${isoSql('c.updated_at')}, 'closed_at', ${isoSql('c.closed_at')},
  'bids', ${BIDS_SQL}, 'deliveries', ${DELIVERIES_SQL}, 'executions', '[]'::json)::text`;

const DETAIL_TEXT_SQL = `
SELECT CASE WHEN x.runs THEN NULL ELSE ${CONTRACT_JSON_SQL} END AS body,
       CASE WHEN x.runs THEN ${DETAIL_JSON} END AS detail
FROM contracts c, LATERAL (SELECT EXISTS (SELECT 1 FROM task_results t WHERE t.contract_id = c.id) AS runs) x
WHERE c.id = $1 AND c.deleted_at IS NULL AND c.user_id = $2`;
const PENDING = JSON.stringify(PENDING_VALIDATION);

/**
 * GET /contracts/:id's body as JSON text (what contractDetailJson makes of
 * loadContractDetail), the user's own; a 404 when the contract is missing, deleted or someone else's.
 */
export async function contractDetailText(deps: { knex: Knex }, id: string, userId: string): Promise<string> {
  const [row] = await queryRows<{ body: string | null; detail: Parameters<typeof detailFromJson>[0] | null }>(deps.knex, {
    name: 'contract-detail',
    text: DETAIL_TEXT_SQL,
    values: [id, userId, PENDING],
  });
  if (!row) throw notFound('contract');
  return row.body ?? JSON.stringify(contractDetailJson(detailFromJson(row.detail!)));
}
