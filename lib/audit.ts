import type { Knex } from 'knex';
import { escapeLiteral } from 'pg';
import { TERMINAL_STATUSES } from '../domain/statuses';
import { ChainVerifier, GENESIS_HASH, sealRecord, verifyChain, type AuditKind, type ChainBreak, type ChainVerdict, type StoredAuditRecord } from '../domain/audit';

// Writing and reading the contract audit chains (table contract_audit; the format is in
// domain/audit.ts). A fact's record is appended by the transaction that writes the fact, so the
// record exists iff the fact committed.

export const AUDIT_TABLE = 'contract_audit';

export interface Appended {
  seq: number;
  hash: string;
  /** False when the fact was already recorded (a retried write): nothing was appended. */
  appended: boolean;
}

// The shapes of the values an append quotes into its text (see appendAudit).
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const FACT_KEY = /^[A-Za-z0-9_./:-]{1,200}$/;

/**
 * Appends one record to a contract's chain inside `trx`, the transaction that writes the fact.
 *
 * - `kind`: what the record is about (domain/audit.ts AUDIT_KINDS).
 * - `facts`: the fact itself, JSON with snake_case keys (no undefined values where they matter:
 *   an undefined member is left out of the canonical form, as JSON.stringify does).
 * - `factKey`: names this fact uniquely within the contract (e.g. `delivery/2`,
 *   `validation/<delivery_id>`). A second append with the same key — an activity retried after
 *   its commit, or a write that repeats — appends nothing and returns the first record.
 *
 * Appends for one contract are serialized by a transaction-scoped advisory lock, held until
 * `trx` ends: call this last in the transaction (after its row locks) and keep the transaction
 * short after it.
 */
export async function appendAudit(
  trx: Knex.Transaction,
  contractId: string,
  kind: AuditKind,
  facts: Record<string, unknown>,
  factKey: string,
): Promise<Appended> {
  // The lock, then the fact's record if it is there already and the chain's head: two statements
  // in one round trip. They must be two (the second's snapshot is taken after the lock is held,
  // so it sees the append of whoever held it before), which the simple query protocol allows
  // only without bind parameters: the values are quoted literals (pg's escapeLiteral).
  type Link = { seq: number; hash: string } | null;
  // knex still rewrites `?` in a raw text without bindings, so the literals hold none: a uuid and
  // a key of the shape every caller uses (`delivery/2`, `payment/<uuid>/captured`).
  if (!UUID.test(contractId) || !FACT_KEY.test(factKey)) throw new Error(`audit append: bad contract id or fact key ${JSON.stringify([contractId, factKey])}`);
  const id = escapeLiteral(contractId);
  const results = (await trx.raw(
    `SELECT pg_advisory_xact_lock(hashtextextended(${escapeLiteral(`${AUDIT_TABLE}:${contractId}`)}, 0));
     SELECT (SELECT json_build_object('seq', seq, 'hash', hash) FROM ${AUDIT_TABLE} WHERE contract_id = ${id} AND fact_key = ${escapeLiteral(factKey)}) AS existing,
            (SELECT json_build_object('seq', seq, 'hash', hash) FROM ${AUDIT_TABLE} WHERE contract_id = ${id} ORDER BY seq DESC LIMIT 1) AS head`,
  )) as [unknown, { rows: { existing: Link; head: Link }[] }];
  const { existing, head } = results[1].rows[0]!;
  if (existing) return { seq: existing.seq, hash: existing.hash, appended: false };
  const seq = (head?.seq ?? 0) + 1;
  const prevHash: string = head?.hash ?? GENESIS_HASH;
  const { record, hash } = sealRecord({ contract_id: contractId, seq, kind, at: new Date().toISOString(), facts, prev_hash: prevHash });
  await trx(AUDIT_TABLE).insert({ contract_id: contractId, seq, kind, fact_key: factKey, record, prev_hash: prevHash, hash });
  return { seq, hash, appended: true };
}

const COLUMNS = ['contract_id', 'seq', 'kind', 'record', 'prev_hash', 'hash'] as const;

/** One contract's chain as stored, in seq order. */
export async function loadChain(knex: Knex, contractId: string): Promise<StoredAuditRecord[]> {
  return knex(AUDIT_TABLE).where({ contract_id: contractId }).orderBy('seq').select(COLUMNS);
}

/** One contract's chain and its verdict. */
export async function verifyContractChain(knex: Knex, contractId: string): Promise<{ records: StoredAuditRecord[]; verdict: ChainVerdict }> {
  const records = await loadChain(knex, contractId);
  return { records, verdict: verifyChain(contractId, records) };
}

/** A contract whose chain is missing, or misses its end, though the contract says otherwise. */
export interface MissingRecord {
  contract_id: string;
  status: string;
  /** `created`: no chain (or none that starts with the contract's terms); `closed`: the contract ended, its chain does not say so. */
  missing: 'created' | 'closed';
}

export interface AllChainsReport {
  contracts: number;
  records: number;
  verified: number;
  /** The first broken link of each chain that has one, in contract id order. */
  broken: ChainBreak[];
  /**
   * Contracts created since the chains exist whose chain was removed whole, or that ended
   * without their `closed` record (a removed tail): cross-checked against the contracts table.
   * At most MISSING_LISTED are listed; `missing_count` counts them all.
   */
  missing: MissingRecord[];
  missing_count: number;
}

export const MISSING_LISTED = 1_000;
const AUDIT_MIGRATION = '20261201000900_create_contract_audit.ts';

/**
 * Recomputes every chain in the database. Rows are read in (contract_id, seq) order in pages
 * (keyset pagination), so memory stays at one page whatever the table's size; `onChain` hears
 * each chain's verdict as it completes. `contractIds` limits the check to those contracts.
 */
export async function verifyAllChains(
  knex: Knex,
  opts: { pageSize?: number; onChain?: (verdict: ChainVerdict) => void; contractIds?: string[] } = {},
): Promise<AllChainsReport> {
  const pageSize = opts.pageSize ?? 2_000;
  const report: AllChainsReport = { contracts: 0, records: 0, verified: 0, broken: [], missing: [], missing_count: 0 };
  let current = null as ChainVerifier | null;
  const finish = () => {
    if (!current) return;
    const verdict = current.result();
    report.contracts++;
    if (verdict.broken_at) report.broken.push(verdict.broken_at);
    else report.verified++;
    opts.onChain?.(verdict);
  };
  let after: { contract_id: string; seq: number } | null = null;
  for (;;) {
    let q = knex(AUDIT_TABLE).select(COLUMNS).orderBy([{ column: 'contract_id' }, { column: 'seq' }]).limit(pageSize);
    if (after) q = q.whereRaw('(contract_id, seq) > (?::uuid, ?::integer)', [after.contract_id, after.seq]);
    if (opts.contractIds) q = q.whereIn('contract_id', opts.contractIds);
    const page: StoredAuditRecord[] = await q;
    for (const row of page) {
      if (current?.contractId !== row.contract_id) {
        finish();
        current = new ChainVerifier(row.contract_id);
      }
      current.push(row);
      report.records++;
    }
    if (page.length < pageSize) break;
    const last = page[page.length - 1]!;
    after = { contract_id: last.contract_id, seq: last.seq };
  }
  finish();
  await findMissing(knex, report, opts.contractIds);
  return report;
}

// Each contract row created since the chains exist has a `created` record, and a `closed` one
// once its status is terminal: both are written in the transaction that writes the row or the
// status, so a contract without them lost them later. (Contracts from before the chains have none.)
async function findMissing(knex: Knex, report: AllChainsReport, contractIds?: string[]): Promise<void> {
  const since = await knex('knex_migrations').where({ name: AUDIT_MIGRATION }).first('migration_time');
  if (!since) return;
  const has = (kind: string) => `EXISTS (SELECT 1 FROM ${AUDIT_TABLE} a WHERE a.contract_id = c.id AND a.kind = '${kind}')`;
  const { rows } = (await knex.raw(
    `SELECT c.id, c.status::text AS status, ${has('created')} AS has_created, count(*) OVER () AS total
       FROM contracts c
      WHERE c.created_at >= ?
        AND (NOT ${has('created')} OR (c.status::text = ANY(?::text[]) AND NOT ${has('closed')}))
        ${contractIds ? 'AND c.id = ANY(?::uuid[])' : ''}
      ORDER BY c.id
      LIMIT ?`,
    [since.migration_time, [...TERMINAL_STATUSES], ...(contractIds ? [contractIds] : []), MISSING_LISTED],
  )) as { rows: Array<{ id: string; status: string; has_created: boolean; total: number }> };
  report.missing_count = Number(rows[0]?.total ?? 0);
  report.missing = rows.map((r) => ({ contract_id: r.id, status: r.status, missing: r.has_created ? 'closed' : 'created' }));
}
