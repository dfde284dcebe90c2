import canonicalize from 'canonicalize';
import { createHash } from 'node:crypto';

// A contract's audit chain, as pure functions: the canonical form of a record, its hash, and
// the check of a whole chain. Each record is the RFC 8785 (JCS) canonical JSON of
// {contract_id, seq, kind, at, facts, prev_hash}; its hash is the SHA-256 (hex) of those UTF-8
// bytes, and the next record carries it as prev_hash, so changing, dropping, inserting or
// reordering any record breaks every link after it. Anyone holding the records can check them
// with a JCS library and SHA-256; nothing here needs Hermes. (node:crypto is used for the hash;
// workflow code does not import this module.)

/** The prev_hash of a chain's first record. */
export const GENESIS_HASH = '0'.repeat(64);

/** What a record is about (the facts' shape follows from it; see README "Audit chain"). */
export const AUDIT_KINDS = [
  'created',
  'awarded',
  'escrow_held',
  'escrow_action_required',
  'escrow_failed',
  'escrow_captured',
  'escrow_voided',
  'escrow_refunded',
  'escrow_disputed',
  'execution',
  'delivery',
  'validation',
  'review',
  'settlement',
  'closed',
] as const;
export type AuditKind = (typeof AUDIT_KINDS)[number];

/** The hashed content of one record. */
export interface AuditRecordBody {
  contract_id: string;
  seq: number;
  kind: string;
  /** When it was appended (ISO 8601, UTC). */
  at: string;
  facts: Record<string, unknown>;
  prev_hash: string;
}

/** A record as stored: the columns, with `record` the exact canonical text that was hashed. */
export interface StoredAuditRecord {
  contract_id: string;
  seq: number;
  kind: string;
  record: string;
  prev_hash: string;
  hash: string;
}

/** RFC 8785 canonical JSON. Throws on what JSON cannot hold (undefined, NaN, lone surrogates). */
export function canonicalJson(value: unknown): string {
  const text = canonicalize(value);
  if (text === undefined) throw new TypeError('a value with no JSON form cannot be canonicalized');
  return text;
}

export const sha256Hex = (text: string | Uint8Array): string => createHash('sha256').update(text).digest('hex');

/** The SHA-256 of a value's canonical JSON (e.g. a delivery's output). */
export const canonicalSha256 = (value: unknown): string => sha256Hex(canonicalJson(value));

/** The canonical text of a record and its hash. */
export function sealRecord(body: AuditRecordBody): { record: string; hash: string } {
  const record = canonicalJson({
    contract_id: body.contract_id,
    seq: body.seq,
    kind: body.kind,
    at: body.at,
    facts: body.facts,
    prev_hash: body.prev_hash,
  });
  return { record, hash: sha256Hex(record) };
}

export type ChainBreakReason =
  /** The record's text does not hash to the stored hash (the record or the hash was edited). */
  | 'hash_mismatch'
  /** seq is not the one after the previous record's (a record was deleted, inserted or moved). */
  | 'seq_gap'
  /** prev_hash is not the previous record's hash. */
  | 'prev_hash_mismatch'
  /** The record's text is not canonical JSON of a record. */
  | 'malformed'
  /** A column (contract_id, seq, kind, prev_hash) disagrees with the hashed record. */
  | 'column_mismatch';

/** The first link of a chain that does not hold. */
export interface ChainBreak {
  contract_id: string;
  seq: number;
  kind: string;
  reason: ChainBreakReason;
  /** What the chain says the value should be, and what is stored. */
  expected: string;
  stored: string;
  message: string;
}

export interface ChainVerdict {
  contract_id: string;
  count: number;
  /** The stored hash of the last record (GENESIS_HASH for an empty chain); vouched for only when verified. */
  head_hash: string;
  verified: boolean;
  broken_at: ChainBreak | null;
}

/**
 * Checks one chain record by record, in seq order, so a caller can stream rows through it.
 * After the first break it only counts.
 */
export class ChainVerifier {
  #count = 0;
  #prevHash = GENESIS_HASH;
  #prevSeq = 0;
  #lastHash = GENESIS_HASH;
  #broken: ChainBreak | null = null;

  constructor(readonly contractId: string) {}

  push(r: StoredAuditRecord): void {
    this.#count++;
    this.#lastHash = r.hash;
    if (this.#broken) return;
    const at = (reason: ChainBreakReason, expected: string | number, stored: string | number, message: string) => {
      this.#broken = { contract_id: this.contractId, seq: r.seq, kind: r.kind, reason, expected: String(expected), stored: String(stored), message };
    };
    if (r.seq !== this.#prevSeq + 1) {
      return at('seq_gap', this.#prevSeq + 1, r.seq, `expected record ${this.#prevSeq + 1} after ${this.#prevSeq}, found ${r.seq}`);
    }
    if (r.prev_hash !== this.#prevHash) {
      return at('prev_hash_mismatch', this.#prevHash, r.prev_hash, `prev_hash is not the hash of record ${this.#prevSeq || '(none: genesis)'}`);
    }
    const actual = sha256Hex(r.record);
    if (actual !== r.hash) return at('hash_mismatch', actual, r.hash, 'the record does not hash to its stored hash');
    let body: AuditRecordBody;
    try {
      body = JSON.parse(r.record) as AuditRecordBody;
    } catch {
      return at('malformed', 'canonical JSON', r.record.slice(0, 80), 'the record is not JSON');
    }
    if (canonicalJson(body) !== r.record || !isRecordBody(body)) {
      return at('malformed', 'canonical JSON of {contract_id, seq, kind, at, facts, prev_hash}', r.record.slice(0, 80), 'the record is not a canonical record');
    }
    for (const [field, column] of [['contract_id', this.contractId], ['seq', r.seq], ['kind', r.kind], ['prev_hash', r.prev_hash]] as const) {
      if (body[field] !== column) return at('column_mismatch', String(body[field]), String(column), `the ${field} column disagrees with the hashed record`);
    }
    this.#prevSeq = r.seq;
    this.#prevHash = r.hash;
  }

  result(): ChainVerdict {
    return {
      contract_id: this.contractId,
      count: this.#count,
      head_hash: this.#lastHash,
      verified: this.#broken === null,
      broken_at: this.#broken,
    };
  }
}

function isRecordBody(b: unknown): b is AuditRecordBody {
  if (b === null || typeof b !== 'object' || Array.isArray(b)) return false;
  const o = b as Record<string, unknown>;
  const keys = Object.keys(o).sort().join(',');
  return (
    keys === 'at,contract_id,facts,kind,prev_hash,seq' &&
    typeof o.contract_id === 'string' &&
    Number.isInteger(o.seq) &&
    typeof o.kind === 'string' &&
    typeof o.at === 'string' &&
    typeof o.prev_hash === 'string' &&
    o.facts !== null &&
    typeof o.facts === 'object' &&
    !Array.isArray(o.facts)
  );
}

/** Checks a whole chain (records in seq order) and says where it first breaks, if it does. */
export function verifyChain(contractId: string, records: Iterable<StoredAuditRecord>): ChainVerdict {
  const v = new ChainVerifier(contractId);
  for (const r of records) v.push(r);
  return v.result();
}

/** The hashed body of a stored record (for the API: the record as the client can re-hash it). */
export const recordBody = (r: Pick<StoredAuditRecord, 'record'>): AuditRecordBody => JSON.parse(r.record) as AuditRecordBody;
