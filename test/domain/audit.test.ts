import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { canonicalJson, GENESIS_HASH, sealRecord, verifyChain, type StoredAuditRecord } from '../../domain/audit';

// The audit chain's canonical form (RFC 8785) and its check, record by record.

const CONTRACT = '3f0c1e9a-6a57-4d0e-9a59-2f7b3c8d1e42';

function chain(n: number, contractId = CONTRACT): StoredAuditRecord[] {
  const out: StoredAuditRecord[] = [];
  let prev = GENESIS_HASH;
  for (let seq = 1; seq <= n; seq++) {
    const kind = ['created', 'awarded', 'escrow_held', 'delivery', 'settlement'][(seq - 1) % 5]!;
    const { record, hash } = sealRecord({ contract_id: contractId, seq, kind, at: `2026-12-01T10:00:0${seq % 10}.000Z`, facts: { n: seq, price_cents: 1000 * seq }, prev_hash: prev });
    out.push({ contract_id: contractId, seq, kind, record, prev_hash: prev, hash });
    prev = hash;
  }
  return out;
}

/** Rewrites one record's facts and, as an attacker would, its own hash. */
function rewrite(r: StoredAuditRecord, facts: Record<string, unknown>): StoredAuditRecord {
  const body = JSON.parse(r.record);
  const { record, hash } = sealRecord({ ...body, facts });
  return { ...r, record, hash };
}

describe('canonical form (RFC 8785)', () => {
  it('sorts keys by UTF-16 code units, drops whitespace and writes numbers the ECMAScript way', () => {
    expect(canonicalJson({ b: 1, a: [true, null, 'x'], c: { z: 1e21, y: 0.1, x: -0 } })).toBe('{"a":[true,null,"x"],"b":1,"c":{"x":0,"y":0.1,"z":1e+21}}');
    // RFC 8785 §3.2.3's example: "\u20ac" < "\r" < "1" < "\ud83d\ude00" < "\u0080" < "\u00f6" by code units.
    expect(canonicalJson({ '\u20ac': 1, '\r': 2, '1': 3, '\ud83d\ude00': 4, '\u0080': 5, '\u00f6': 6 })).toBe(
      '{"\\r":2,"1":3,"\u0080":5,"\u00f6":6,"\u20ac":1,"\ud83d\ude00":4}',
    );
    expect(canonicalJson({ s: 'a"b\\c\u0001' })).toBe('{"s":"a\\"b\\\\c\\u0001"}');
  });

  it('is the same text whatever order the keys came in', () => {
    expect(canonicalJson({ a: 1, b: { d: 2, c: 3 } })).toBe(canonicalJson({ b: { c: 3, d: 2 }, a: 1 }));
  });

  it('refuses what JSON cannot hold', () => {
    expect(() => canonicalJson({ x: NaN })).toThrow();
    expect(() => canonicalJson({ x: '\ud800' })).toThrow(/surrogate/i);
    expect(() => canonicalJson(undefined)).toThrow();
  });

  it('hashes the canonical text of {contract_id, seq, kind, at, facts, prev_hash}, so anyone can recompute it', () => {
    const { record, hash } = sealRecord({ contract_id: CONTRACT, seq: 1, kind: 'created', at: '2026-12-01T10:00:00.000Z', facts: { reward_cents: 500 }, prev_hash: GENESIS_HASH });
    expect(record).toBe(`{"at":"2026-12-01T10:00:00.000Z","contract_id":"${CONTRACT}","facts":{"reward_cents":500},"kind":"created","prev_hash":"${'0'.repeat(64)}","seq":1}`);
    expect(hash).toBe(createHash('sha256').update(record, 'utf8').digest('hex'));
  });
});

describe('verifyChain', () => {
  it('passes an intact chain and reports its head', () => {
    const c = chain(5);
    expect(verifyChain(CONTRACT, c)).toEqual({ contract_id: CONTRACT, count: 5, head_hash: c[4]!.hash, verified: true, broken_at: null });
    expect(verifyChain(CONTRACT, [])).toMatchObject({ count: 0, head_hash: GENESIS_HASH, verified: true });
  });

  it('an edited record no longer hashes to its hash', () => {
    const c = chain(5);
    c[2] = { ...c[2]!, record: c[2]!.record.replace('"price_cents":3000', '"price_cents":9000') };
    expect(verifyChain(CONTRACT, c).broken_at).toMatchObject({ seq: 3, kind: 'escrow_held', reason: 'hash_mismatch', stored: chain(5)[2]!.hash });
  });

  it('an edited record with a recomputed hash breaks the next link', () => {
    const c = chain(5);
    c[1] = rewrite(c[1]!, { n: 2, price_cents: 1 });
    expect(verifyChain(CONTRACT, c).broken_at).toMatchObject({ seq: 3, reason: 'prev_hash_mismatch', expected: c[1]!.hash, stored: chain(5)[1]!.hash });
  });

  it('a deleted record is a seq gap', () => {
    const c = chain(5);
    c.splice(1, 1);
    expect(verifyChain(CONTRACT, c).broken_at).toMatchObject({ seq: 3, reason: 'seq_gap', expected: '2', stored: '3' });
  });

  it('reordered records break at the first one out of place', () => {
    const c = chain(5);
    [c[1], c[2]] = [c[2]!, c[1]!];
    expect(verifyChain(CONTRACT, c).broken_at).toMatchObject({ seq: 3, reason: 'seq_gap' });
    // Swapping the seq columns too keeps the order but not the links.
    const d = chain(5);
    const swapped = [d[0]!, { ...d[2]!, seq: 2 }, { ...d[1]!, seq: 3 }, d[3]!, d[4]!];
    expect(verifyChain(CONTRACT, swapped).broken_at).toMatchObject({ seq: 2, reason: 'prev_hash_mismatch' });
  });

  it('an inserted record breaks the link after it, even when it is well formed', () => {
    const c = chain(5);
    const forged = sealRecord({ contract_id: CONTRACT, seq: 3, kind: 'review', at: '2026-12-01T10:00:09.000Z', facts: { decision: 'accepted' }, prev_hash: c[1]!.hash });
    const inserted = [c[0]!, c[1]!, { contract_id: CONTRACT, seq: 3, kind: 'review', prev_hash: c[1]!.hash, ...forged }, ...c.slice(2).map((r) => ({ ...r, seq: r.seq + 1 }))];
    expect(verifyChain(CONTRACT, inserted).broken_at).toMatchObject({ seq: 4, reason: 'prev_hash_mismatch' });
  });

  it('a column that disagrees with the hashed record (kind, another contract) is caught', () => {
    const c = chain(3);
    c[1] = { ...c[1]!, kind: 'refund' };
    expect(verifyChain(CONTRACT, c).broken_at).toMatchObject({ seq: 2, reason: 'column_mismatch', expected: 'awarded', stored: 'refund' });
    // A whole valid chain of another contract does not pass as this one's.
    expect(verifyChain(CONTRACT, chain(2, '00000000-0000-4000-8000-000000000000')).broken_at).toMatchObject({ seq: 1, reason: 'column_mismatch' });
  });

  it('a record that is not canonical JSON is malformed even with a matching hash', () => {
    const c = chain(2);
    const record = c[0]!.record.replace('{"at"', '{ "at"');
    c[0] = { ...c[0]!, record, hash: createHash('sha256').update(record).digest('hex') };
    c[1] = { ...c[1]!, prev_hash: c[0]!.hash };
    expect(verifyChain(CONTRACT, c).broken_at).toMatchObject({ seq: 1, reason: 'malformed' });
  });

  it('a forged first record must still start from the genesis hash', () => {
    const c = chain(2);
    c[0] = { ...c[0]!, prev_hash: 'f'.repeat(64) };
    expect(verifyChain(CONTRACT, c).broken_at).toMatchObject({ seq: 1, reason: 'prev_hash_mismatch', expected: GENESIS_HASH });
  });
});
