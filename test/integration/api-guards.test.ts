import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTokens } from '../../api/credentials';
import { postContract, registerAgent, registerUser, startPlatform, waitForContract, type Platform } from '../support/platform';

// Authentication, ownership, validation and the error shape, through HTTP.
let platform: Platform;
beforeAll(async () => {
  platform = await startPlatform();
});
afterAll(async () => platform?.close());

describe('auth', () => {
  it('registers, logs in, and refuses a wrong password or a taken email', async () => {
    const { api } = platform;
    const user = await registerUser(api);
    const login = await api('POST', '/api/v1/auth/login', { body: { email: user.email.toUpperCase(), password: 'correct horse battery' } });
    expect(login.status).toBe(200);
    expect(login.body.token).toBeTypeOf('string');
    const wrong = await api('POST', '/api/v1/auth/login', { body: { email: user.email, password: 'nope nope nope' } });
    expect(wrong.status).toBe(401);
    expect(wrong.body.error.code).toBe('INVALID_CREDENTIALS');
    const again = await api('POST', '/api/v1/auth/register', { body: { email: user.email, password: 'another long one', name: 'x' } });
    expect(again.status).toBe(409);
    expect(again.body.error).toMatchObject({ code: 'EMAIL_TAKEN', details: [{ field: 'email' }] });
  });

  it('refuses requests without a token, with a bad token, or with a bad API key', async () => {
    const { api } = platform;
    const none = await api('GET', '/api/v1/contracts');
    expect(none.status).toBe(401);
    expect(none.body.error.code).toBe('UNAUTHENTICATED');
    expect((await api('GET', '/api/v1/contracts', { token: 'not.a.jwt' })).status).toBe(401);
    const foreign = createTokens({ JWT_SECRET: 'x'.repeat(40), JWT_ISSUER: 'hermes', JWT_TTL_SECONDS: 60 });
    const user = await registerUser(api);
    const forged = (await foreign.issue(user.id)).token;
    expect((await api('GET', '/api/v1/contracts', { token: forged })).status).toBe(401);
    expect((await api('GET', '/api/v1/contracts', { token: user.token })).status).toBe(200);
    const badKey = await api('POST', '/api/v1/mesh/bid', { apiKey: 'hk_wrong', body: {} });
    expect(badKey.status).toBe(401);
  });

  it('stores API keys hashed and shows them once', async () => {
    const { api } = platform;
    const user = await registerUser(api);
    const agent = await registerAgent(api, user.token);
    const rows = await platform.deps.knex('api_keys').where({ agent_id: agent.id });
    expect(rows).toHaveLength(1);
    expect(rows[0].key_hash).not.toContain(agent.apiKey);
    expect(JSON.stringify((await api('GET', `/api/v1/agents/${agent.id}`)).body)).not.toContain(agent.apiKey);
  });
});

describe('ownership', () => {
  it('hides other users’ contracts and lets only the awarded agent deliver', async () => {
    const { api } = platform;
    const alice = await registerUser(api, 'Alice');
    const mallory = await registerUser(api, 'Mallory');
    const winner = await registerAgent(api, alice.token);
    const loser = await registerAgent(api, mallory.token);
    const id = await postContract(api, alice.token);

    expect((await api('GET', `/api/v1/contracts/${id}`, { token: mallory.token })).status).toBe(404);
    expect((await api('POST', `/api/v1/contracts/${id}/cancel`, { token: mallory.token })).status).toBe(404);
    expect((await api('GET', '/api/v1/contracts', { token: mallory.token })).body.data).toEqual([]);

    await api('POST', '/api/v1/mesh/bid', { apiKey: winner.apiKey, body: { contract_id: id, price_cents: 100, eta_seconds: 60, confidence: 1 } });
    await api('POST', '/api/v1/mesh/bid', { apiKey: loser.apiKey, body: { contract_id: id, price_cents: 4_900, eta_seconds: 600, confidence: 0.1 } });
    await api('POST', `/api/v1/contracts/${id}/close-bidding`, { token: alice.token });
    await waitForContract(api, alice.token, id, 'IN_PROGRESS');

    const wrongAgent = await api('POST', '/api/v1/mesh/deliver', { apiKey: loser.apiKey, body: { contract_id: id, output: 'x' } });
    expect(wrongAgent.status).toBe(403);
    expect(wrongAgent.body.error.code).toBe('NOT_AWARDED_AGENT');
    await api('POST', `/api/v1/contracts/${id}/cancel`, { token: alice.token });
  });
});

describe('bids', () => {
  it('answers each bid at once with accepted or the reason it was refused', async () => {
    const { api } = platform;
    const user = await registerUser(api);
    const agent = await registerAgent(api, user.token);
    const narrow = await registerAgent(api, user.token, { capabilities: ['translate'] });
    const id = await postContract(api, user.token, { reward_cents: 1_000, required_capabilities: ['pdf'] });
    const bid = (body: Record<string, unknown>, key = agent.apiKey) =>
      api('POST', '/api/v1/mesh/bid', { apiKey: key, body: { contract_id: id, price_cents: 500, eta_seconds: 60, confidence: 0.5, ...body } });

    const first = await bid({});
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ status: 'accepted', bid: { revision: 1, price_cents: 500 } });
    // Another bid without replace (the same bid again would be a retry, answered as the first).
    expect((await bid({ price_cents: 450 })).body.error.code).toBe('DUPLICATE_BID');
    const replaced = await bid({ price_cents: 400, replace: true });
    expect(replaced.status).toBe(200);
    expect(replaced.body.bid).toMatchObject({ id: first.body.bid.id, revision: 2 });

    const tooDear = await bid({ price_cents: 1_001, replace: true });
    expect(tooDear.status).toBe(400);
    expect(tooDear.body.error).toMatchObject({ code: 'PRICE_ABOVE_REWARD', details: [{ field: 'price_cents' }] });
    const badEta = await bid({ eta_seconds: 0 });
    expect(badEta.status).toBe(400);
    expect(badEta.body.error.details[0].field).toBe('eta_seconds');
    expect((await bid({ confidence: 2 })).body.error.details[0].field).toBe('confidence');
    expect((await bid({}, narrow.apiKey)).status).toBe(403);
    expect((await bid({ contract_id: '6f1c1d7e-1d1a-4c56-9f39-0c4a3c6e3b11' })).status).toBe(404);

    await api('POST', `/api/v1/contracts/${id}/close-bidding`, { token: user.token });
    const late = await api('POST', '/api/v1/mesh/bid', { apiKey: narrow.apiKey, body: { contract_id: id, price_cents: 1, eta_seconds: 1, confidence: 1 } });
    expect(late.status).toBe(403); // capability check comes first for an incapable agent
    const closed = await bid({ price_cents: 300, replace: true });
    expect(closed.status).toBe(409);
    expect(closed.body.error.code).toBe('BIDDING_CLOSED');
    await api('POST', `/api/v1/contracts/${id}/cancel`, { token: user.token });
  });
});

describe('validation and errors', () => {
  it('names the field that is wrong, rejects unknown fields and bad JSON, caps body size', async () => {
    const { api } = platform;
    const user = await registerUser(api);
    const noReward = await api('POST', '/api/v1/contracts', { token: user.token, body: { intent: 'x' } });
    expect(noReward.status).toBe(400);
    expect(noReward.body.error).toMatchObject({ code: 'VALIDATION_ERROR', details: [{ field: 'reward_cents' }] });
    const floatMoney = await api('POST', '/api/v1/contracts', { token: user.token, body: { intent: 'x', reward_cents: 10.5 } });
    expect(floatMoney.body.error.details[0].field).toBe('reward_cents');
    const typo = await api('POST', '/api/v1/contracts', { token: user.token, body: { intent: 'x', reward_cents: 1, rewrad: 2 } });
    expect(typo.body.error.details).toEqual([{ field: 'rewrad', message: 'unknown field' }]);
    const badJson = await api('POST', '/api/v1/contracts', { token: user.token, rawBody: '{"intent":' });
    expect(badJson.status).toBe(400);
    const huge = await api('POST', '/api/v1/contracts', { token: user.token, body: { intent: 'x'.repeat(2_000_000), reward_cents: 1 } });
    expect(huge.status).toBe(413);
    expect(huge.body.error.code).toBe('PAYLOAD_TOO_LARGE');
    const missing = await api('GET', '/api/v1/nope');
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('NOT_FOUND');
    const badId = await api('GET', '/api/v1/contracts/not-a-uuid', { token: user.token });
    expect(badId.status).toBe(400);
    expect(badId.body.error).toMatchObject({ code: 'VALIDATION_ERROR', message: 'id: Invalid UUID', details: [{ field: 'id' }] });
  });

  it('lists the caller’s contracts newest first, filtered and paginated', async () => {
    const { api } = platform;
    const user = await registerUser(api);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push(await postContract(api, user.token, { intent: `job ${i}` }));
    for (const id of ids) await waitForContract(api, user.token, id, 'BIDDING');
    const page1 = await api('GET', '/api/v1/contracts?limit=2', { token: user.token });
    expect(page1.body.data.map((c: { id: string }) => c.id)).toEqual([ids[2], ids[1]]);
    const page2 = await api('GET', `/api/v1/contracts?limit=2&cursor=${page1.body.next_cursor}`, { token: user.token });
    expect(page2.body.data.map((c: { id: string }) => c.id)).toEqual([ids[0]]);
    expect(page2.body.next_cursor).toBeNull();
    expect((await api('GET', '/api/v1/contracts?status=SETTLED', { token: user.token })).body.data).toEqual([]);
    expect((await api('GET', '/api/v1/contracts?status=NOPE', { token: user.token })).body.error.details[0].field).toBe('status');
    for (const id of ids) await api('POST', `/api/v1/contracts/${id}/cancel`, { token: user.token });
  });

  it('keeps award preferences per user and applies them to new contracts', async () => {
    const { api } = platform;
    const user = await registerUser(api);
    expect((await api('GET', '/api/v1/preferences', { token: user.token })).body.weights).toEqual({ price: 2500, performance: 2500, speed: 2500, reputation: 2500 });
    const bad = await api('PUT', '/api/v1/preferences', { token: user.token, body: { weights: { price: 5000, performance: 5000, speed: 1, reputation: 0 } } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details[0].field).toBe('weights');
    const weights = { price: 7000, performance: 1000, speed: 1000, reputation: 1000 };
    const ok = await api('PUT', '/api/v1/preferences', { token: user.token, body: { weights, default_filters: { min_confidence: 0.5 } } });
    expect(ok.status).toBe(200);
    const created = await api('POST', '/api/v1/contracts', { token: user.token, body: { intent: 'x', reward_cents: 100 } });
    expect(created.body).toMatchObject({ weights, filters: { min_confidence: 0.5 } });
    await api('POST', `/api/v1/contracts/${created.body.id}/cancel`, { token: user.token });
  });

  it('rate-limits a user with 429 and Retry-After', async () => {
    const limited = await startPlatform({ RATE_LIMIT_USER_PER_MINUTE: 3 });
    try {
      const user = await registerUser(limited.api);
      const statuses: number[] = [];
      let last;
      for (let i = 0; i < 4; i++) {
        last = await limited.api('GET', '/api/v1/preferences', { token: user.token });
        statuses.push(last.status);
      }
      expect(statuses).toEqual([200, 200, 200, 429]);
      expect(Number(last!.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(last!.body.error.code).toBe('RATE_LIMITED');
    } finally {
      await limited.close();
    }
  });

  it('reports readiness of its dependencies', async () => {
    const res = await platform.api('GET', '/ready');
    expect(res.status).toBe(200);
    expect(res.body.checks).toEqual({ postgres: 'ok', redis: 'ok', temporal: 'ok' });
  });
});
