import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../lib/binary-store';
import { eventually } from '../support/eventually';
import { postContract, registerAgent, registerUser, startPlatform, uploadAgent, waitForContract, type Api, type ApiResponse, type Platform } from '../support/platform';
import { exampleAgent, exampleVerifier, fixture, withNonce } from '../support/wasm';

// Acceptance checks end to end, through the API with the real sandbox: an output_schema and a
// verifier module decide a delivery before money moves.
let platform: Platform;
let api: Api;
beforeAll(async () => {
  platform = await startPlatform({ SANDBOX_MAX_UPLOAD_BYTES: 256 * 1024, SANDBOX_FUEL: 50_000_000, ACCEPTANCE_SCHEMA_MAX_BYTES: 4096, VERIFIER_TIMEOUT_SECONDS: 2 });
  api = platform.api;
});
afterAll(async () => platform?.close());

async function uploadVerifier(token: string, wasm: Uint8Array, fields: Record<string, string> = { name: 'checker' }, headers: Record<string, string> = {}): Promise<ApiResponse> {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  form.append('file', new Blob([wasm], { type: 'application/wasm' }), 'verifier.wasm');
  const res = await fetch(`${platform.base}/api/v1/verifiers`, { method: 'POST', headers: { Authorization: `Bearer ${token}`, ...headers }, body: form });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null, headers: res.headers };
}

const summarySchema = { type: 'object', required: ['summary'], properties: { summary: { type: 'string', minLength: 1 } } };

/** The contract once its first delivery's checks concluded with `status`. */
function checkedAs(token: string, id: string, status: 'passed' | 'failed' | 'error') {
  return eventually(
    async () => {
      const { body } = await api('GET', `/api/v1/contracts/${id}`, { token });
      expect(body.deliveries[0].validation.status).toBe(status);
      return body;
    },
    { timeout: 30_000, interval: 100 },
  );
}

async function verifier(token: string, wasm: Buffer, name = 'bullets') {
  const res = await uploadVerifier(token, wasm, { name });
  expect(res.status).toBe(201);
  return res.body.id as string;
}

/** A user, a contract with these checks, and bids from `bidders` agents (the first ranks first); bidding closed. */
async function contractWithChecks(acceptance: Record<string, unknown>, opts: { bidders?: number; maxReawards?: number; user?: { token: string } } = {}) {
  const user = opts.user ?? (await registerUser(api));
  const owner = await registerUser(api, 'Owner');
  const agents = [];
  for (let i = 0; i < (opts.bidders ?? 1); i++) agents.push(await registerAgent(api, owner.token, { name: `writer ${i}`, capabilities: ['summarise'] }));
  const id = await postContract(api, user.token, {
    intent: 'Summarise in three bullet points',
    context: { bullet_points: 3 },
    required_capabilities: ['summarise'],
    max_reawards: opts.maxReawards ?? 0,
    acceptance,
  });
  for (const [i, agent] of agents.entries()) {
    const bid = await api('POST', '/api/v1/mesh/bid', { apiKey: agent.apiKey, body: { contract_id: id, price_cents: 1_000 + i * 1_000, eta_seconds: 600, confidence: 0.9 } });
    expect(bid.status).toBe(201);
  }
  expect((await api('POST', `/api/v1/contracts/${id}/close-bidding`, { token: user.token })).status).toBe(200);
  await waitForContract(api, user.token, id, 'IN_PROGRESS');
  return { user, agents, id };
}

const deliver = (apiKey: string, id: string, output: unknown) => api('POST', '/api/v1/mesh/deliver', { apiKey, body: { contract_id: id, output } });
const metricsOf = (contractId: string) => platform.deps.knex('agent_metrics').where({ contract_id: contractId }).orderBy('recorded_at');
const eventsOf = (contractId: string, type: string) =>
  platform.deps.knex('event_outbox').where({ contract_id: contractId, type }).orderBy('id').select('payload');

describe('declaring acceptance checks', () => {
  it('refuses a schema that is not a usable JSON Schema, naming acceptance.output_schema and the problem', async () => {
    const user = await registerUser(api);
    const create = (acceptance: unknown) =>
      api('POST', '/api/v1/contracts', { token: user.token, body: { intent: 'Summarise', reward_cents: 0, acceptance } });

    const badType = await create({ output_schema: { type: 'objec' } });
    expect(badType.status).toBe(400);
    expect(badType.body.error.code).toBe('VALIDATION_ERROR');
    expect(badType.body.error.message).toMatch(/^acceptance\.output_schema: .* at \/type: must be equal to one of the allowed values/);
    expect(badType.body.error.details[0]).toMatchObject({ field: 'acceptance.output_schema' });

    const typo = await create({ output_schema: { type: 'object', requried: ['summary'] } });
    expect(typo.status).toBe(400);
    expect(typo.body.error.message).toContain('unknown keyword: "requried"');

    const remote = await create({ output_schema: { $ref: 'https://example.com/schema.json' } });
    expect(remote.status).toBe(400);
    expect(remote.body.error.message).toContain("can't resolve reference");

    const boolean = await create({ output_schema: true });
    expect(boolean.status).toBe(400);
    expect(boolean.body.error.message).toMatch(/^acceptance\.output_schema: must be a JSON Schema object \(for the boolean schemas, \{\} accepts anything/);

    const draft7 = await create({ output_schema: { $schema: 'http://json-schema.org/draft-07/schema#', type: 'string' } });
    expect(draft7.status).toBe(400);
    expect(draft7.body.error.message).toContain('only JSON Schema draft 2020-12 is supported');

    const huge = await create({ output_schema: { type: 'object', description: 'x'.repeat(5000) } });
    expect(huge.status).toBe(400);
    expect(huge.body.error.message).toMatch(/^acceptance\.output_schema: the schema is \d+ bytes of JSON; at most 4096/);

    const empty = await create({ on_pass: 'settle' });
    expect(empty.status).toBe(400);
    expect(empty.body.error.details[0]).toMatchObject({ field: 'acceptance', message: 'give output_schema, verifier_id or both' });

    const badOnPass = await create({ output_schema: summarySchema, on_pass: 'pay' });
    expect(badOnPass.status).toBe(400);
    expect(badOnPass.body.error.details[0].field).toBe('acceptance.on_pass');
  });

  it("refuses another user's verifier as a missing one, and shows the checks on the contract", async () => {
    const alice = await registerUser(api);
    const mallory = await registerUser(api, 'Mallory');
    const wasm = exampleVerifier('bullet-points');
    const uploaded = await uploadVerifier(alice.token, wasm, { name: 'three bullets', description: 'counts bullet points' }, { 'Idempotency-Key': 'verifier-1' });
    expect(uploaded.status).toBe(201);
    expect(uploaded.body).toMatchObject({ name: 'three bullets', description: 'counts bullet points', sha256: sha256Hex(wasm), size_bytes: wasm.length });
    expect(uploaded.headers.get('location')).toBe(`/api/v1/verifiers/${uploaded.body.id}`);
    // A retry with the same key is the first answer, not a second verifier.
    const retried = await uploadVerifier(alice.token, wasm, { name: 'three bullets', description: 'counts bullet points' }, { 'Idempotency-Key': 'verifier-1' });
    expect(retried.body.id).toBe(uploaded.body.id);
    expect(retried.headers.get('idempotent-replayed')).toBe('true');
    expect((await api('GET', '/api/v1/verifiers', { token: alice.token })).body.data.map((v: { id: string }) => v.id)).toEqual([uploaded.body.id]);

    // Only its owner sees it or uses it.
    expect((await api('GET', `/api/v1/verifiers/${uploaded.body.id}`, { token: alice.token })).body).toEqual(uploaded.body);
    expect((await api('GET', `/api/v1/verifiers/${uploaded.body.id}`, { token: mallory.token })).status).toBe(404);
    const foreign = await api('POST', '/api/v1/contracts', { token: mallory.token, body: { intent: 'Summarise', reward_cents: 0, acceptance: { verifier_id: uploaded.body.id } } });
    expect(foreign.status).toBe(404);
    expect(foreign.body.error.details).toEqual([{ field: 'acceptance.verifier_id' }]);

    // An upload that is not a module is refused like an agent binary.
    const junk = await uploadVerifier(alice.token, Buffer.from('not wasm'));
    expect(junk.status).toBe(400);
    expect(junk.body.error).toMatchObject({ code: 'INVALID_MODULE', details: [expect.objectContaining({ field: 'file' })] });

    const created = await api('POST', '/api/v1/contracts', {
      token: alice.token,
      body: { intent: 'Summarise', reward_cents: 0, acceptance: { output_schema: summarySchema, verifier_id: uploaded.body.id, on_pass: 'settle' } },
    });
    expect(created.status).toBe(201);
    const acceptance = { output_schema: summarySchema, verifier: { id: uploaded.body.id, name: 'three bullets', sha256: sha256Hex(wasm) }, on_pass: 'settle' };
    expect(created.body.acceptance).toEqual(acceptance);
    expect((await api('GET', `/api/v1/contracts/${created.body.id}`, { token: alice.token })).body.acceptance).toEqual(acceptance);
  });
});

describe('a delivery checked before money moves', () => {
  it('settles on its own when the agent’s delivery passes the schema and the verifier (on_pass settle)', async () => {
    const user = await registerUser(api);
    const verifierId = await verifier(user.token, exampleVerifier('bullet-points'));
    const { agents, id } = await contractWithChecks({ output_schema: summarySchema, verifier_id: verifierId, on_pass: 'settle' }, { user });
    expect((await deliver(agents[0]!.apiKey, id, { summary: '- one\n- two\n- three' })).status).toBe(201);

    const settled = await waitForContract(api, user.token, id, 'SETTLED');
    const [delivery] = settled.deliveries;
    expect(delivery).toMatchObject({ status: 'accepted', is_validated: true, validation: { status: 'passed', report: 'found 3 bullet points, want 3\n' } });
    expect(delivery.validation.checks).toEqual([
      { name: 'output_schema', status: 'passed', message: 'the output matches the schema' },
      expect.objectContaining({ name: 'verifier', status: 'passed', verifier_id: verifierId, outcome: 'ok', exit_code: 0, fuel_consumed: expect.any(Number) }),
    ]);
    expect(await metricsOf(id)).toEqual([expect.objectContaining({ agent_id: agents[0]!.id, outcome: 'success' })]);
    expect(await platform.deps.knex('payments').where({ contract_id: id })).toEqual([expect.objectContaining({ status: 'captured' })]);
    // The event carries every check, once.
    const events = await eventsOf(id, 'delivery:validated');
    expect(events).toHaveLength(1);
    expect(events[0].payload).toMatchObject({ contract_id: id, is_validated: true, validation: { status: 'passed', checks: [{ name: 'output_schema' }, { name: 'verifier' }] } });
  });

  it('rejects a failing delivery automatically, re-awards to the next bid, and counts the failure against the agent', async () => {
    const user = await registerUser(api);
    const verifierId = await verifier(user.token, exampleVerifier('bullet-points'));
    const { agents, id } = await contractWithChecks({ output_schema: summarySchema, verifier_id: verifierId, on_pass: 'settle' }, { user, bidders: 2, maxReawards: 1 });
    const [first, second] = agents as [{ id: string; apiKey: string }, { id: string; apiKey: string }];
    expect((await deliver(first.apiKey, id, { summary: '- one\n- two' })).status).toBe(201);

    // Re-awarded to the second bid: the first delivery stays, rejected by its checks.
    const reawarded = await eventually(
      async () => {
        const { body } = await api('GET', `/api/v1/contracts/${id}`, { token: user.token });
        expect(body.award?.agent_id).toBe(second.id);
        expect(body.status).toBe('IN_PROGRESS');
        return body;
      },
      { timeout: 30_000, interval: 100 },
    );
    expect(reawarded.deliveries).toEqual([
      expect.objectContaining({
        agent_id: first.id,
        status: 'rejected',
        is_validated: false,
        review_comment: 'failed its acceptance checks: verifier: the verifier exited 1: found 2 bullet points, want 3',
        validation: expect.objectContaining({ status: 'failed', report: 'found 2 bullet points, want 3\n' }),
      }),
    ]);
    expect(reawarded.deliveries[0].validation.checks).toEqual([
      expect.objectContaining({ name: 'output_schema', status: 'passed' }),
      expect.objectContaining({ name: 'verifier', status: 'failed', exit_code: 1, outcome: 'exit_nonzero' }),
    ]);
    expect(await metricsOf(id)).toEqual([expect.objectContaining({ agent_id: first.id, outcome: 'failure', failure_reason: 'validation_failed' })]);

    // The next agent's output fails the schema: the verifier is not run, and with no re-award
    // left the contract fails for that reason.
    expect((await deliver(second.apiKey, id, { text: 'no summary' })).status).toBe(201);
    const failed = await waitForContract(api, user.token, id, 'FAILED');
    expect(failed.failure_reason).toBe('validation_failed');
    expect(failed.deliveries[1].validation).toMatchObject({
      status: 'failed',
      report: null,
      checks: [
        { name: 'output_schema', status: 'failed', errors: [{ instance_path: '', keyword: 'required', message: 'must have property summary' }] },
        { name: 'verifier', status: 'skipped' },
      ],
    });
    expect((await metricsOf(id)).map((m) => [m.agent_id, m.failure_reason])).toEqual([
      [first.id, 'validation_failed'],
      [second.id, 'validation_failed'],
    ]);
    expect(await platform.deps.knex('payments').where({ contract_id: id }).orderBy('created_at')).toEqual([
      expect.objectContaining({ status: 'voided' }),
      expect.objectContaining({ status: 'voided' }),
    ]);
  });

  it('a verifier that crashes is an error, not held against the agent: the user decides', async () => {
    const user = await registerUser(api);
    const verifierId = await verifier(user.token, fixture('trap'), 'crashes');
    const { agents, id } = await contractWithChecks({ verifier_id: verifierId, on_pass: 'settle' }, { user });
    expect((await deliver(agents[0]!.apiKey, id, { summary: '- one\n- two\n- three' })).status).toBe(201);

    const checked = await checkedAs(user.token, id, 'error');
    expect(checked.status).toBe('DELIVERED');
    expect(checked.deliveries[0]).toMatchObject({ status: 'pending_review', is_validated: false });
    expect(checked.deliveries[0].validation.checks).toEqual([expect.objectContaining({ name: 'verifier', status: 'error', outcome: 'trap', message: expect.stringContaining('not held against the agent') })]);
    expect(await metricsOf(id)).toEqual([]);

    expect((await api('POST', `/api/v1/contracts/${id}/accept`, { token: user.token, body: { rating: 4 } })).status).toBe(200);
    await waitForContract(api, user.token, id, 'SETTLED');
    expect(await metricsOf(id)).toEqual([expect.objectContaining({ outcome: 'success', rating: 4 })]);
  });

  it('a schema whose pattern backtracks without end is stopped at the deadline: an error, not held against the agent', async () => {
    const user = await registerUser(api);
    const schema = { type: 'object', properties: { summary: { type: 'string', pattern: '^(a+)+$' } } };
    const { agents, id } = await contractWithChecks({ output_schema: schema, on_pass: 'settle' }, { user });
    expect((await deliver(agents[0]!.apiKey, id, { summary: `${'a'.repeat(40)}!` })).status).toBe(201);
    const checked = await checkedAs(user.token, id, 'error');
    expect(checked.status).toBe('DELIVERED');
    expect(checked.deliveries[0].validation.checks).toEqual([
      { name: 'output_schema', status: 'error', message: 'the schema check did not finish within 2000 ms (a pattern that backtracks without end?); this is not held against the agent' },
    ]);
    expect(await metricsOf(id)).toEqual([]);
    // The checker was replaced: the next contract's schema check answers as usual.
    const next = await contractWithChecks({ output_schema: summarySchema, on_pass: 'settle' }, { user });
    expect((await deliver(next.agents[0]!.apiKey, next.id, { summary: 'fine' })).status).toBe(201);
    await waitForContract(api, user.token, next.id, 'SETTLED');
  });

  it('checks a delivery the sandbox produced too', async () => {
    const user = await registerUser(api);
    const owner = await registerUser(api, 'Owner');
    const upload = await uploadAgent(platform.base, owner.token, withNonce(exampleAgent('text-stats')), { name: 'text stats', capabilities: 'text' });
    expect(upload.status).toBe(201);
    const schema = { type: 'object', required: ['words', 'sentences'], properties: { words: { type: 'integer', minimum: 1 }, sentences: { type: 'integer', const: 2 } } };
    const id = await postContract(api, user.token, {
      intent: 'Give me statistics for this text',
      context: { text: 'Hermes runs agents. Agents earn.' },
      required_capabilities: ['text'],
      acceptance: { output_schema: schema, on_pass: 'settle' },
    });
    expect((await api('POST', '/api/v1/mesh/bid', { apiKey: upload.body.api_key, body: { contract_id: id, price_cents: 1_500, eta_seconds: 30, confidence: 0.95 } })).status).toBe(201);
    expect((await api('POST', `/api/v1/contracts/${id}/close-bidding`, { token: user.token })).status).toBe(200);

    const settled = await waitForContract(api, user.token, id, 'SETTLED');
    expect(settled.deliveries).toEqual([
      expect.objectContaining({ source: 'sandbox', status: 'accepted', is_validated: true, validation: expect.objectContaining({ status: 'passed', report: null }) }),
    ]);
    expect(settled.executions).toEqual([expect.objectContaining({ outcome: 'ok' })]);
  });
});
