import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/eventually';
import { registerAgent, registerUser, startPlatform, type ApiResponse, type Platform } from '../support/platform';
import { fixture, withNonce } from '../support/wasm';

// Every create takes an Idempotency-Key, Stripe's way: a retry with the same key and request
// gets the first answer (status, body, Idempotent-Replayed: true) and creates nothing more; the
// same key with another request is a 422; requests racing on one key create one thing.
let platform: Platform;
beforeAll(async () => {
  platform = await startPlatform();
});
afterAll(async () => platform?.close());

const keyed = (key: string) => ({ 'Idempotency-Key': key });
const count = async (table: string, where: Record<string, unknown>) =>
  Number((await platform.deps.knex(table).where(where).count('* as n'))[0]!.n);

/** multipart POST /agents/upload, as curl -F sends it, with headers. */
async function upload(token: string, wasm: Uint8Array, fields: Record<string, string>, headers: Record<string, string> = {}): Promise<ApiResponse> {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  form.append('file', new Blob([wasm], { type: 'application/wasm' }), 'agent.wasm');
  const res = await fetch(`${platform.base}/api/v1/agents/upload`, { method: 'POST', headers: { Authorization: `Bearer ${token}`, ...headers }, body: form });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null, headers: res.headers };
}

/** The first answer, its retry and a 422 for the key with another request. */
async function expectReplayed(send: (variant: boolean) => Promise<ApiResponse>, status = 201) {
  const first = await send(false);
  expect(first.status, JSON.stringify(first.body)).toBe(status);
  expect(first.headers.get('Idempotent-Replayed')).toBeNull();
  const retry = await send(false);
  expect({ status: retry.status, body: retry.body }).toEqual({ status, body: first.body });
  expect(retry.headers.get('Idempotent-Replayed')).toBe('true');
  const other = await send(true);
  expect(other.status).toBe(422);
  expect(other.body.error).toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED', details: [{ field: 'Idempotency-Key' }] });
  return first;
}

/** Several requests on one key at once: each gets the one answer or is told the key is busy. */
async function race(send: () => Promise<ApiResponse>, status = 201, n = 6) {
  const answers = await Promise.all(Array.from({ length: n }, send));
  const done = answers.filter((a) => a.status === status);
  expect(done.length).toBeGreaterThan(0);
  for (const a of answers) {
    if (a.status === status) expect(a.body).toEqual(done[0]!.body);
    else {
      expect([a.status, a.body.error.code]).toEqual([409, 'IDEMPOTENCY_KEY_IN_USE']);
      expect(Number(a.headers.get('Retry-After'))).toBeGreaterThan(0);
    }
  }
  // A busy key's 409 is retried: it gets the one answer.
  const after = await send();
  expect([after.status, after.body]).toEqual([status, done[0]!.body]);
  return done[0]!;
}

describe('POST /agents', () => {
  it('a retry gets the same agent and the same API key, which is not kept in plain text', async () => {
    const { api } = platform;
    const user = await registerUser(api);
    const key = randomUUID();
    const first = await expectReplayed((variant) =>
      api('POST', '/api/v1/agents', { token: user.token, body: { name: variant ? 'other' : 'summariser', capabilities: ['pdf'] }, headers: keyed(key) }),
    );
    expect(first.body.api_key).toMatch(/^hk_/);
    expect(await count('agents', { owner_id: user.id })).toBe(1);
    expect(await count('api_keys', { agent_id: first.body.agent.id })).toBe(1);
    // The replayed key works.
    expect((await api('GET', '/api/v1/mesh/contracts', { apiKey: first.body.api_key })).status).toBe(200);

    const row = await platform.deps.knex('idempotency_keys').where({ caller_id: user.id, key }).first();
    expect(row.response_body).toEqual({ ...first.body, api_key: null });
    expect(JSON.stringify(row)).not.toContain(first.body.api_key.slice(3));
    expect(row.response_secrets.includes(Buffer.from(first.body.api_key))).toBe(false);
  });

  it('racing requests on one key register one agent', async () => {
    const { api } = platform;
    const user = await registerUser(api);
    const key = randomUUID();
    await race(() => api('POST', '/api/v1/agents', { token: user.token, body: { name: 'racer' }, headers: keyed(key) }));
    expect(await count('agents', { owner_id: user.id })).toBe(1);
  });

  it('keys are per caller, and a refused request keeps nothing, so its key is free', async () => {
    const { api } = platform;
    const [ada, bob] = [await registerUser(api), await registerUser(api, 'Bob')];
    const key = randomUUID();
    const refused = await api('POST', '/api/v1/agents', { token: ada.token, body: { name: '' }, headers: keyed(key) });
    expect(refused.status).toBe(400);
    const a = await api('POST', '/api/v1/agents', { token: ada.token, body: { name: 'ada-agent' }, headers: keyed(key) });
    const b = await api('POST', '/api/v1/agents', { token: bob.token, body: { name: 'bob-agent' }, headers: keyed(key) });
    expect([a.status, b.status]).toEqual([201, 201]);
    expect(a.body.agent.id).not.toBe(b.body.agent.id);
  });

  it('a key past its 24 h is free again, and expired rows are deleted, sealed keys with them', async () => {
    const { api } = platform;
    const user = await registerUser(api);
    const key = randomUUID();
    const first = await api('POST', '/api/v1/agents', { token: user.token, body: { name: 'old' }, headers: keyed(key) });
    expect(first.status).toBe(201);
    const knex = platform.deps.knex;
    await knex('idempotency_keys').where({ caller_id: user.id, key }).update({ created_at: knex.raw("now() - interval '25 hours'") });
    const stale = randomUUID();
    await knex('idempotency_keys').insert({ caller_kind: 'user', caller_id: user.id, key: stale, request_hash: 'a'.repeat(64), route: 'POST /agents', created_at: knex.raw("now() - interval '25 hours'") });

    const fresh = await api('POST', '/api/v1/agents', { token: user.token, body: { name: 'new' }, headers: keyed(key) });
    expect([fresh.status, fresh.headers.get('Idempotent-Replayed')]).toEqual([201, null]);
    expect(fresh.body.agent.id).not.toBe(first.body.agent.id);
    expect(await count('idempotency_keys', { caller_id: user.id, key: stale })).toBe(0);
  });

  it('rotating an API key with a key gives one new key, the same on retry', async () => {
    const { api } = platform;
    const user = await registerUser(api);
    const agent = await registerAgent(api, user.token);
    const other = await registerAgent(api, user.token);
    const key = randomUUID();
    const first = await expectReplayed((variant) => api('POST', `/api/v1/agents/${variant ? other.id : agent.id}/api-keys`, { token: user.token, headers: keyed(key) }));
    expect(await count('api_keys', { agent_id: agent.id })).toBe(2);
    expect((await api('GET', '/api/v1/mesh/contracts', { apiKey: first.body.api_key })).status).toBe(200);
    const raced = randomUUID();
    await race(() => api('POST', `/api/v1/agents/${agent.id}/api-keys`, { token: user.token, headers: keyed(raced) }));
    expect(await count('api_keys', { agent_id: agent.id })).toBe(3);
  });
});

describe('POST /agents/upload', () => {
  it('the same fields and module are the first answer; another module under the key is a 422', async () => {
    const { api } = platform;
    const user = await registerUser(api);
    const wasm = withNonce(fixture('echo'));
    const key = randomUUID();
    const first = await expectReplayed((variant) => upload(user.token, variant ? withNonce(fixture('echo')) : wasm, { name: 'echo' }, keyed(key)));
    expect(first.body.api_key).toMatch(/^hk_/);
    expect(await count('agents', { owner_id: user.id })).toBe(1);
    // Another field with the same module is another request too.
    const renamed = await upload(user.token, wasm, { name: 'echo-2' }, keyed(key));
    expect([renamed.status, renamed.body.error.code]).toEqual([422, 'IDEMPOTENCY_KEY_REUSED']);
    expect((await api('GET', '/api/v1/mesh/contracts', { apiKey: first.body.api_key })).status).toBe(200);

    // A new version of the agent: 200, once.
    const v2 = withNonce(fixture('echo'));
    const vKey = randomUUID();
    await expectReplayed((variant) => upload(user.token, v2, { agent_id: first.body.agent.id, version: variant ? '3.0.0' : '2.0.0' }, keyed(vKey)), 200);
    expect(await count('agent_binaries', { agent_id: first.body.agent.id })).toBe(2);
  });

  it('racing uploads on one key create one agent', async () => {
    const user = await registerUser(platform.api);
    const wasm = withNonce(fixture('echo'));
    const key = randomUUID();
    await race(() => upload(user.token, wasm, { name: 'echo' }, keyed(key)), 201, 4);
    expect(await count('agents', { owner_id: user.id })).toBe(1);
  });
});

describe('POST /tasks and /tasks/:id/execute', () => {
  async function runnableAgent(token: string) {
    const res = await upload(token, withNonce(fixture('echo')), { name: 'echo' });
    expect(res.status).toBe(201);
    return res.body.agent.id as string;
  }

  it('a retried create is the same task; a retried execute is the first 202, not a 409', async () => {
    const { api } = platform;
    const user = await registerUser(api);
    const agentId = await runnableAgent(user.token);
    const key = randomUUID();
    const task = await expectReplayed((variant) => api('POST', '/api/v1/tasks', { token: user.token, body: { agent_id: agentId, input: { n: variant ? 2 : 1 } }, headers: keyed(key) }));
    expect(await count('tasks', { owner_id: user.id })).toBe(1);

    const other = (await api('POST', '/api/v1/tasks', { token: user.token, body: { agent_id: agentId, input: 'other' } })).body;
    const runKey = randomUUID();
    const run = await expectReplayed(
      (variant) => api('POST', `/api/v1/tasks/${variant ? other.id : task.body.id}/execute`, { token: user.token, headers: keyed(runKey) }),
      202,
    );
    expect(run.body.id).toBe(task.body.id);
    // Without a key a second execute is still refused; the run happened once.
    expect((await api('POST', `/api/v1/tasks/${task.body.id}/execute`, { token: user.token })).status).toBe(409);
    await eventually(async () => expect((await api('GET', `/api/v1/tasks/${task.body.id}/results`, { token: user.token })).body.status).toBe('succeeded'));
    expect(await count('task_results', { task_id: task.body.id })).toBe(1);
  });

  it('racing creates and executes on one key make one task and one run', async () => {
    const { api } = platform;
    const user = await registerUser(api);
    const agentId = await runnableAgent(user.token);
    const task = await race(() => api('POST', '/api/v1/tasks', { token: user.token, body: { agent_id: agentId, input: 'x' }, headers: keyed('race-create') }));
    expect(await count('tasks', { owner_id: user.id })).toBe(1);
    await race(() => api('POST', `/api/v1/tasks/${task.body.id}/execute`, { token: user.token, headers: keyed('race-execute') }), 202);
    await eventually(async () => expect((await api('GET', `/api/v1/tasks/${task.body.id}/results`, { token: user.token })).body.status).toBe('succeeded'));
    expect(await count('task_results', { task_id: task.body.id })).toBe(1);
  });
});

describe('POST /payments/methods', () => {
  it('a retry is the same saved method, once; another method under the key is a 422', async () => {
    const { api } = platform;
    const user = await registerUser(api);
    const key = randomUUID();
    const first = await expectReplayed((variant) =>
      api('POST', '/api/v1/payments/methods', { token: user.token, body: { payment_method: variant ? 'pm_card_mastercard' : 'pm_card_visa' }, headers: keyed(key) }),
    );
    expect(first.body).toMatchObject({ id: 'pm_card_visa', is_default: true });
    expect(await count('payment_methods', { user_id: user.id })).toBe(1);
    await race(() => api('POST', '/api/v1/payments/methods', { token: user.token, body: { payment_method: 'pm_card_amex' }, headers: keyed(`${key}-race`) }));
    expect(await count('payment_methods', { user_id: user.id })).toBe(2);
  });
});

describe('agent creates: A2A conversations and messages', () => {
  it('a retry is the same conversation and the same message, sent once', async () => {
    const { api } = platform;
    const owner = await registerUser(api);
    const [me, peer] = [await registerAgent(api, owner.token), await registerAgent(api, owner.token, { name: 'peer' })];
    const third = await registerAgent(api, owner.token, { name: 'third' });
    const key = randomUUID();
    const conversation = await expectReplayed((variant) =>
      api('POST', '/api/v1/a2a/conversations', { apiKey: me.apiKey, body: { agent_id: variant ? third.id : peer.id }, headers: keyed(key) }),
    );
    expect(await count('a2a_conversations', { initiator_agent_id: me.id })).toBe(1);
    // Keys are the agent's own: the peer may use the same one.
    const peers = await api('POST', '/api/v1/a2a/conversations', { apiKey: peer.apiKey, body: { agent_id: third.id }, headers: keyed(key) });
    expect(peers.status).toBe(201);

    const messages = `/api/v1/a2a/conversations/${conversation.body.id}/messages`;
    const msgKey = randomUUID();
    await expectReplayed((variant) => api('POST', messages, { apiKey: me.apiKey, body: { body: variant ? 'bye' : 'hello' }, headers: keyed(msgKey) }));
    await race(() => api('POST', messages, { apiKey: me.apiKey, body: { body: 'again' }, headers: keyed(`${msgKey}-race`) }));
    expect(await count('a2a_messages', { conversation_id: conversation.body.id })).toBe(2);
    // Closed since: the retry still gets its first answer.
    expect((await api('POST', `/api/v1/a2a/conversations/${conversation.body.id}/close`, { apiKey: me.apiKey })).status).toBe(200);
    const late = await api('POST', messages, { apiKey: me.apiKey, body: { body: 'hello' }, headers: keyed(msgKey) });
    expect([late.status, late.headers.get('Idempotent-Replayed')]).toEqual([201, 'true']);
  });
});

describe('POST /wallet/payout-account', () => {
  it('a retry gets the first 201', async () => {
    const { api } = platform;
    const user = await registerUser(api);
    const key = randomUUID();
    const first = await api('POST', '/api/v1/wallet/payout-account', { token: user.token, headers: keyed(key) });
    expect(first.status).toBe(201);
    const retry = await api('POST', '/api/v1/wallet/payout-account', { token: user.token, headers: keyed(key) });
    expect([retry.status, retry.body, retry.headers.get('Idempotent-Replayed')]).toEqual([201, first.body, 'true']);
    // Without a key, a second call answers the same account as 200.
    expect((await api('POST', '/api/v1/wallet/payout-account', { token: user.token })).status).toBe(200);
  });
});

describe('POST /contracts', () => {
  it('racing creates on one key are one contract, and a retry says it is replayed', async () => {
    const { api } = platform;
    const user = await registerUser(api);
    const key = randomUUID();
    const body = { intent: 'Summarise these 40 PDFs', reward_cents: 5_000, bidding_window_seconds: 300 };
    const answers = await Promise.all(Array.from({ length: 4 }, () => api('POST', '/api/v1/contracts', { token: user.token, body, headers: keyed(key) })));
    expect(answers.map((a) => a.status)).toEqual([201, 201, 201, 201]);
    expect(new Set(answers.map((a) => a.body.id)).size).toBe(1);
    expect(await count('contracts', { user_id: user.id })).toBe(1);
    const retry = await api('POST', '/api/v1/contracts', { token: user.token, body, headers: keyed(key) });
    expect([retry.status, retry.body, retry.headers.get('Idempotent-Replayed')]).toEqual([201, answers[0]!.body, 'true']);
  });
});
