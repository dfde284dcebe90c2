import canonicalize from 'canonicalize';
import { execFile } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createContractActivities } from '../../activities/contracts';
import { createEscrowActivities } from '../../activities/escrow';
import { createPaymentReversalActivities } from '../../activities/payment-reversals';
import { storeBids } from '../../db/bids';
import { GENESIS_HASH } from '../../domain/audit';
import { appendAudit, loadChain, verifyAllChains } from '../../lib/audit';
import { createStripe } from '../../lib/stripe';
import { contractInput } from '../support/builders';
import { checkedClient } from '../support/openapi';
import { postContract, registerAgent, registerUser, startPlatform, uploadAgent, waitForContract, type Api, type Platform } from '../support/platform';
import { exampleAgent } from '../support/wasm';

// Each contract's audit chain through the real stack: a WASM agent's contract run to SETTLED
// through the API, its chain as the owner and the agent see it (and re-checked here the way any
// client could, with a JCS library and SHA-256), then one row rewritten in Postgres the way
// someone with database access would, and verification finding that row.
let platform: Platform;
let api: Api;
beforeAll(async () => {
  platform = await startPlatform({ SANDBOX_FUEL: 50_000_000 });
  api = platform.api;
});
afterAll(async () => platform?.close());

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

/** What a client does with GET /audit: recompute every hash and link itself. */
function recheck(contractId: string, records: Array<{ seq: number; kind: string; at: string; facts: unknown; prev_hash: string; hash: string }>) {
  let prev = GENESIS_HASH;
  records.forEach((r, i) => {
    expect(r.seq).toBe(i + 1);
    expect(r.prev_hash).toBe(prev);
    expect(sha256(canonicalize({ contract_id: contractId, seq: r.seq, kind: r.kind, at: r.at, facts: r.facts, prev_hash: r.prev_hash })!)).toBe(r.hash);
    prev = r.hash;
  });
  return prev;
}

/** `npm run audit:verify` as an operator runs it. */
function auditVerify() {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile('npm', ['run', '--silent', 'audit:verify'], { env: process.env, timeout: 120_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as NodeJS.ErrnoException).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('the audit chain of a contract', () => {
  it('records every fact that moved money through SETTLED, verifies, and is shown to the owner and the awarded agent only; a rewritten row is found', async () => {
    const user = await registerUser(api);
    const owner = await registerUser(api, 'Owner');
    const up = await uploadAgent(platform.base, owner.token, exampleAgent('text-stats'), { name: 'text stats', capabilities: 'text', price_cents: '1500' });
    expect(up.status).toBe(201);
    const agent = { id: up.body.agent.id as string, apiKey: up.body.api_key as string, sha256: up.body.binary.sha256 as string };
    const context = { text: 'Hermes runs agents. Agents earn.' };
    const intent = 'Give me statistics for this text';
    const id = await postContract(api, user.token, { intent, context, required_capabilities: ['text'] });
    const bid = await api('POST', '/api/v1/mesh/bid', { apiKey: agent.apiKey, body: { contract_id: id, price_cents: 1_500, eta_seconds: 30, confidence: 0.95 } });
    expect(bid.status).toBe(201);
    expect((await api('POST', `/api/v1/contracts/${id}/close-bidding`, { token: user.token })).status).toBe(200);
    await waitForContract(api, user.token, id, 'DELIVERED');
    expect((await api('POST', `/api/v1/contracts/${id}/accept`, { token: user.token, body: { rating: 5, comment: 'exact' } })).status).toBe(200);
    const settled = await waitForContract(api, user.token, id, 'SETTLED');

    const res = await api('GET', `/api/v1/contracts/${id}/audit`, { token: user.token });
    expect(res.status).toBe(200);
    const chain = res.body;
    // Validation records come from the acceptance checks, when a contract declares them.
    expect(chain.records.map((r: { kind: string }) => r.kind).filter((k: string) => k !== 'validation')).toEqual([
      'created',
      'awarded',
      'escrow_held',
      'execution',
      'delivery',
      'review',
      'escrow_captured',
      'settlement',
      'closed',
    ]);
    expect(chain).toMatchObject({ contract_id: id, verified: true, broken_at: null });
    expect(chain.head_hash).toBe(recheck(id, chain.records));

    const fact = (kind: string) => chain.records.find((r: { kind: string }) => r.kind === kind).facts;
    expect(fact('created')).toMatchObject({ owner_id: user.id, reward_cents: 5_000, currency: settled.currency, intent_sha256: sha256(JSON.stringify(intent)), context_sha256: sha256(canonicalize(context)!) });
    expect(fact('awarded')).toMatchObject({ agent_id: agent.id, price_cents: 1_500, bid_id: settled.award.bid_id });
    const payment = await platform.deps.knex('payments').where({ contract_id: id }).first();
    expect(fact('escrow_held')).toMatchObject({ payment_intent_id: payment.stripe_payment_intent_id, amount_cents: 1_500 });
    const run = settled.executions[0];
    expect(fact('execution')).toMatchObject({
      agent_id: agent.id,
      module_sha256: agent.sha256,
      // stdin is the input as JSON, byte for byte.
      input_sha256: sha256(JSON.stringify({ contract_id: id, intent, context })),
      outcome: 'ok',
      exit_code: 0,
      stdout_sha256: run.stdout_sha256,
      stdout_bytes: run.stdout_bytes,
      fuel_consumed: run.fuel,
      cpu_time_us: expect.any(Number),
    });
    expect(fact('delivery')).toMatchObject({ source: 'sandbox', attempt: 1, output_sha256: sha256(canonicalize(settled.deliveries[0].output)!) });
    expect(fact('review')).toMatchObject({ decision: 'accepted', rating: 5, automatic: false });
    const settlementLedger = await platform.deps.knex('ledger_transactions').where({ contract_id: id, kind: 'settlement' }).first('id');
    const captureLedger = await platform.deps.knex('ledger_transactions').where({ contract_id: id, kind: 'capture' }).first('id');
    expect(fact('escrow_captured')).toMatchObject({ amount_cents: 1_500, ledger_transaction_id: captureLedger.id });
    const settlement = fact('settlement');
    expect(settlement).toMatchObject({ price_cents: 1_500, ledger_transaction_id: settlementLedger.id, owner_id: owner.id });
    expect(settlement.fee_cents + settlement.payout_cents).toBe(1_500);
    expect(fact('closed')).toMatchObject({ status: 'SETTLED', failure_reason: null });

    // Every answer of the route, as the OpenAPI document describes it.
    const documented = checkedClient(api);
    const audit = documented.call;

    // The awarded agent sees the same chain with its key; nobody else sees that it exists.
    const asAgent = await audit('GET', `/api/v1/contracts/${id}/audit`, { apiKey: agent.apiKey });
    expect(asAgent.status).toBe(200);
    expect(asAgent.body).toEqual(chain);
    const stranger = await registerUser(api, 'Eve');
    const otherAgent = await registerAgent(api, stranger.token);
    for (const who of [{ token: stranger.token }, { apiKey: otherAgent.apiKey }]) {
      const refused = await audit('GET', `/api/v1/contracts/${id}/audit`, who);
      expect(refused.status).toBe(404);
      expect(refused.body.error.code).toBe('NOT_FOUND');
    }
    expect((await audit('GET', `/api/v1/contracts/${randomUUID()}/audit`, { token: user.token })).status).toBe(404);
    const anonymous = await audit('GET', `/api/v1/contracts/${id}/audit`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.error.message).toMatch(/Authorization: Bearer <token> .* or X-API-Key/);
    expect((await audit('GET', `/api/v1/contracts/not-a-uuid/audit`, { token: user.token })).status).toBe(400);

    // The table refuses edits from anyone who obeys its triggers...
    const awarded = chain.records.find((r: { kind: string }) => r.kind === 'awarded');
    await expect(platform.deps.knex('contract_audit').where({ contract_id: id, seq: awarded.seq }).update({ kind: 'x' })).rejects.toThrow(/append-only/);
    await expect(platform.deps.knex('contract_audit').where({ contract_id: id }).del()).rejects.toThrow(/append-only/);

    // ...so an attacker with database rights goes around them and lowers the awarded price.
    const db = new pg.Client({ connectionString: platform.config.DATABASE_URL });
    await db.connect();
    try {
      await db.query('SET session_replication_role = replica');
      const edited = await db.query(
        `UPDATE contract_audit SET record = replace(record, '"price_cents":1500', '"price_cents":900') WHERE contract_id = $1 AND seq = $2`,
        [id, awarded.seq],
      );
      expect(edited.rowCount).toBe(1);
    } finally {
      await db.end();
    }

    const all = await verifyAllChains(platform.deps.knex);
    expect(all.broken.filter((b) => b.contract_id === id)).toEqual([
      expect.objectContaining({ contract_id: id, seq: awarded.seq, kind: 'awarded', reason: 'hash_mismatch', stored: awarded.hash }),
    ]);
    expect(all.records).toBeGreaterThanOrEqual(chain.records.length);

    const cli = await auditVerify();
    expect(cli.code, cli.stderr).toBe(1);
    expect(cli.stdout).toContain(`BROKEN contract ${id} at seq ${awarded.seq} (awarded): hash_mismatch`);
    expect(cli.stdout).toMatch(/audit: \d+ chain\(s\), \d+ record\(s\): \d+ verified, [1-9]\d* broken/);

    const after = await audit('GET', `/api/v1/contracts/${id}/audit`, { token: user.token });
    expect(after.body).toMatchObject({ verified: false, broken_at: { seq: awarded.seq, kind: 'awarded', reason: 'hash_mismatch' } });
    documented.check('GET', `/api/v1/contracts/${id}/audit`, res);
    expect(documented.violations).toEqual([]);
    expect(after.body.records.find((r: { seq: number }) => r.seq === awarded.seq).facts.price_cents).toBe(900);
  });
});

describe('a contract with acceptance checks', () => {
  it("records the checks in its terms and each delivery's validation right after the delivery", async () => {
    const user = await registerUser(api);
    const owner = await registerUser(api, 'Owner');
    const agent = await registerAgent(api, owner.token);
    const schema = { type: 'object', required: ['summary'], properties: { summary: { type: 'string' } } };
    const id = await postContract(api, user.token, { required_capabilities: ['pdf'], reward_cents: 2_000, acceptance: { output_schema: schema, on_pass: 'settle' } });
    expect((await api('POST', '/api/v1/mesh/bid', { apiKey: agent.apiKey, body: { contract_id: id, price_cents: 2_000, eta_seconds: 600, confidence: 0.9 } })).status).toBe(201);
    expect((await api('POST', `/api/v1/contracts/${id}/close-bidding`, { token: user.token })).status).toBe(200);
    await waitForContract(api, user.token, id, 'IN_PROGRESS');
    expect((await api('POST', '/api/v1/mesh/deliver', { apiKey: agent.apiKey, body: { contract_id: id, output: { summary: 'three themes' } } })).status).toBe(201);
    await waitForContract(api, user.token, id, 'SETTLED');

    const { body: chain } = await api('GET', `/api/v1/contracts/${id}/audit`, { apiKey: agent.apiKey });
    expect(chain).toMatchObject({ verified: true, broken_at: null });
    recheck(id, chain.records);
    const kinds: string[] = chain.records.map((r: { kind: string }) => r.kind);
    expect(kinds[kinds.indexOf('delivery') + 1]).toBe('validation');
    expect(kinds.slice(-2)).toEqual(['settlement', 'closed']);
    const fact = (kind: string) => chain.records.find((r: { kind: string }) => r.kind === kind).facts;
    expect(fact('created').acceptance).toEqual({ output_schema_sha256: sha256(canonicalize(schema)!), verifier: null, on_pass: 'settle' });
    expect(fact('validation')).toMatchObject({
      attempt: 1,
      status: 'passed',
      is_validated: true,
      checks: [expect.objectContaining({ name: 'output_schema', status: 'passed' })],
      report_sha256: null,
    });
  });
});

describe('appending', () => {
  async function contractRow() {
    const user = await registerUser(api);
    const owner = await registerUser(api, 'Owner');
    const agent = await registerAgent(api, owner.token);
    const input = contractInput({ userId: user.id, rewardCents: 0 });
    return { input, agentId: agent.id, token: user.token };
  }

  it('a retried activity appends nothing twice, even when the retries race', async () => {
    const { input, agentId, token } = await contractRow();
    const db = createContractActivities({ knex: platform.deps.knex, config: platform.config });
    const escrow = createEscrowActivities({ knex: platform.deps.knex, stripe: createStripe(platform.config), config: platform.config });
    const twice = async (f: () => Promise<unknown>) => {
      await Promise.all([f(), f()]);
      await f();
    };
    const id = input.contractId;
    const at = new Date().toISOString();
    const bidView = { bidId: randomUUID(), agentId, priceCents: 0, etaSeconds: 60, confidence: 0.9, message: null, revision: 1, submittedAt: at };
    await twice(() => db.persistContract(input, at));
    await storeBids(platform.deps.knex, id, [bidView]);
    await twice(() => db.recordAward(id, { bidId: bidView.bidId, agentId, priceCents: 0, etaSeconds: 60, mode: 'auto', score: 1, ranking: [], awardedAt: at }, [bidView]));
    await twice(() => db.recordDelivery(id, { deliveryId: randomUUID(), agentId, bidId: bidView.bidId, attempt: 1, output: { ok: true }, deliveredAt: at }, at));
    await twice(() => db.recordReview(id, 1, { decision: 'accepted', rating: 4, comment: null, reason: null, automatic: false, reviewedAt: at }));
    await twice(() => escrow.settleContract({ contractId: id, agentId, priceCents: 0, currency: 'usd', idempotencyKey: `contract-${id}/settle`, closedAt: at }));

    const rows = await loadChain(platform.deps.knex, id);
    expect(rows.map((r) => r.kind)).toEqual(['created', 'awarded', 'delivery', 'review', 'settlement', 'closed']);
    expect(rows.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    const res = await api('GET', `/api/v1/contracts/${id}/audit`, { token });
    expect(res.body).toMatchObject({ verified: true, broken_at: null });
  });

  it('appends of one contract are serialized: concurrent facts get consecutive seqs, one fact one record', async () => {
    const { input } = await contractRow();
    await createContractActivities({ knex: platform.deps.knex, config: platform.config }).persistContract(input, new Date().toISOString());
    const append = (key: string) => platform.deps.knex.transaction((trx) => appendAudit(trx, input.contractId, 'validation', { check: key }, key));
    const results = await Promise.all([...Array.from({ length: 12 }, (_, i) => append(`validation/${i}`)), ...Array.from({ length: 6 }, () => append('validation/0'))]);
    expect(results.filter((r) => r.appended)).toHaveLength(12);
    const rows = await loadChain(platform.deps.knex, input.contractId);
    expect(rows.map((r) => r.seq)).toEqual(Array.from({ length: 13 }, (_, i) => i + 1));
    const all = await verifyAllChains(platform.deps.knex, { pageSize: 5 });
    expect(all.broken.find((b) => b.contract_id === input.contractId)).toBeUndefined();
  });

  it('each escrow step, and a refund Stripe reports after settlement, is one record however often it is retried', async () => {
    const { input, agentId } = await contractRow();
    const id = input.contractId;
    const knex = platform.deps.knex;
    const db = createContractActivities({ knex, config: platform.config });
    const escrow = createEscrowActivities({ knex, stripe: createStripe(platform.config), config: platform.config });
    const reversals = createPaymentReversalActivities({ knex });
    const at = new Date().toISOString();
    await db.persistContract({ ...input, rewardCents: 3_000 }, at);
    const hold = () => escrow.holdEscrow({ contractId: id, userId: input.userId, agentId, amountCents: 3_000, currency: 'usd', idempotencyKey: `contract-${id}/escrow-hold/1` });
    const held = await hold();
    await hold();
    for (let i = 0; i < 2; i++) await escrow.captureEscrow({ paymentIntentId: held.paymentIntentId, amountCents: 3_000, idempotencyKey: `contract-${id}/escrow-capture/1` });
    for (let i = 0; i < 2; i++) await escrow.settleContract({ contractId: id, agentId, priceCents: 3_000, currency: 'usd', idempotencyKey: `contract-${id}/settle`, closedAt: at });
    const eventId = `evt_${randomUUID().replaceAll('-', '')}`;
    expect(await reversals.applyPaymentReversal({ paymentIntentId: held.paymentIntentId, kind: 'refunded', eventId })).toBe('applied');
    expect(await reversals.applyPaymentReversal({ paymentIntentId: held.paymentIntentId, kind: 'refunded', eventId })).toBe('nothing to reverse');

    const rows = await loadChain(knex, id);
    expect(rows.map((r) => r.kind)).toEqual(['created', 'escrow_held', 'escrow_captured', 'settlement', 'closed', 'escrow_refunded']);
    const facts = rows.map((r) => JSON.parse(r.record).facts);
    const ledger = async (kind: string) => (await knex('ledger_transactions').where({ contract_id: id, kind }).first('id')).id;
    expect(facts[1]).toMatchObject({ payment_intent_id: held.paymentIntentId, amount_cents: 3_000, source: 'hermes', ledger_transaction_id: null });
    expect(facts[2]).toMatchObject({ amount_cents: 3_000, ledger_transaction_id: await ledger('capture') });
    expect(facts[3]).toMatchObject({ price_cents: 3_000, ledger_transaction_id: await ledger('settlement') });
    expect(facts[3].fee_cents + facts[3].payout_cents).toBe(3_000);
    expect(facts[5]).toMatchObject({ source: 'stripe', amount_cents: 3_000, detail: `stripe event ${eventId}`, ledger_transaction_id: await ledger('clawback') });
    const all = await verifyAllChains(knex);
    expect(all.broken.find((b) => b.contract_id === id)).toBeUndefined();
    expect(all.missing.find((m) => m.contract_id === id)).toBeUndefined();
  });

  it('a chain removed whole, or its end removed, is found against the contracts table', async () => {
    const db = createContractActivities({ knex: platform.deps.knex, config: platform.config });
    const [whole, tail] = [(await contractRow()).input, (await contractRow()).input];
    for (const input of [whole, tail]) {
      await db.persistContract(input, new Date().toISOString());
      await db.setContractStatus(input.contractId, 'EXPIRED', { statusDetail: 'no bids were received', closedAt: new Date().toISOString() });
      expect((await loadChain(platform.deps.knex, input.contractId)).map((r) => r.kind)).toEqual(['created', 'closed']);
    }
    const client = new pg.Client({ connectionString: platform.config.DATABASE_URL });
    await client.connect();
    try {
      await client.query('SET session_replication_role = replica');
      await client.query('DELETE FROM contract_audit WHERE contract_id = $1', [whole.contractId]);
      await client.query(`DELETE FROM contract_audit WHERE contract_id = $1 AND kind = 'closed'`, [tail.contractId]);
    } finally {
      await client.end();
    }
    // Only these two: other tests' contracts made without the workflow (rows written directly)
    // have no chains either, and could fill the listed missing ones.
    const all = await verifyAllChains(platform.deps.knex, { contractIds: [whole.contractId, tail.contractId] });
    // What is left of the tail's chain still links up: only the contracts table shows the loss.
    expect(all.broken.find((b) => b.contract_id === tail.contractId)).toBeUndefined();
    expect(all.missing.filter((m) => [whole.contractId, tail.contractId].includes(m.contract_id)).sort((a, b) => (a.missing < b.missing ? 1 : -1))).toEqual([
      { contract_id: whole.contractId, status: 'EXPIRED', missing: 'created' },
      { contract_id: tail.contractId, status: 'EXPIRED', missing: 'closed' },
    ]);
    expect(all.missing_count).toBe(2);
  });
});
