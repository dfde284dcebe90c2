import type { Knex } from 'knex';
import type { Contract, Models, TaskResult } from '../db/models';
import { notFound } from './errors';
import type { BidRow, ContractDetail, ContractRow, DeliveryRow } from './serializers';

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
const DETAIL_SQL = `
SELECT json_build_object(
  'contract', to_json(c),
  'bids', coalesce((SELECT json_agg(b ORDER BY b.created_at, b.id) FROM bids b WHERE b.contract_id = c.id), '[]'),
  'deliveries', coalesce((SELECT json_agg(d ORDER BY d.attempt, d.id) FROM deliveries d WHERE d.contract_id = c.id), '[]'),
  'executions', coalesce((SELECT json_agg(t ORDER BY t.round, t.attempt, t.id) FROM task_results t WHERE t.contract_id = c.id), '[]')
) AS detail
FROM contracts c
WHERE c.id = ? AND c.deleted_at IS NULL`;

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
 * GET /contracts/:id in one statement: the contract (the user's own, when `userId` is given)
 * with its bids, deliveries and sandbox runs; a 404 when it is missing, deleted or someone
 * else's.
 */
export async function loadContractDetailById(deps: { knex: Knex }, id: string, userId?: string): Promise<ContractDetail> {
  const sql = userId === undefined ? DETAIL_SQL : `${DETAIL_SQL} AND c.user_id = ?`;
  const { rows } = await deps.knex.raw(sql, userId === undefined ? [id] : [id, userId]);
  if (!rows[0]) throw notFound('contract');
  return detailFromJson(rows[0].detail);
}

/** The contract's bids, deliveries and sandbox runs, in order, with its row (read again, whole). */
export async function loadContractDetail(deps: { knex: Knex }, contract: Pick<Contract, 'id'>): Promise<ContractDetail> {
  return loadContractDetailById(deps, contract.id);
}
