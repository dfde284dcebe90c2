import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiDeps } from '../../api/bootstrap';
import { eventually } from '../support/eventually';
import { checkedClient } from '../support/openapi';
import { apiClient, postContract, registerAgent, registerUser, startApiInstance, startPlatform, waitForContract, type Platform } from '../support/platform';

// The mutating contract routes send their Workflow Update without reading the contract first
// (the workflow's validators decide), and API-key lookups are cached per API process and
// dropped on revocation (api/auth-cache.ts).
let platform: Platform;
beforeAll(async () => {
  // A TTL far longer than any test: a refusal below comes from the invalidation, not expiry.
  platform = await startPlatform({ AUTH_CACHE_TTL_SECONDS: 3600 });
});
afterAll(async () => platform?.close());

const bidBody = (contractId: string, price = 1_000) => ({ contract_id: contractId, price_cents: price, eta_seconds: 60, confidence: 0.9 });

describe('API keys', () => {
  it('refuses a revoked key on the next request, in this process and in another one', async () => {
    const checked = checkedClient(platform.api);
    const api = checked.call;
    const owner = await registerUser(api);
    const agent = await registerAgent(api, owner.token);
    const second = await api('POST', `/api/v1/agents/${agent.id}/api-keys`, { token: owner.token });
    expect(second.status).toBe(201);

    // A second API process, with its own cache and invalidation subscriber.
    const otherDeps = await createApiDeps(platform.config);
    const other = await startApiInstance(otherDeps);
    try {
      const otherApi = apiClient(other.base);
      // Both processes have the key cached now.
      for (const a of [api, otherApi]) expect((await a('GET', '/api/v1/mesh/contracts', { apiKey: agent.apiKey })).status).toBe(200);

      const prefix = agent.apiKey.slice(0, 10);
      const revoked = await api('DELETE', `/api/v1/agents/${agent.id}/api-keys/${prefix}`, { token: owner.token });
      expect(revoked.status).toBe(200);
      expect(revoked.body.key_prefix).toBe(prefix);

      const refused = await api('GET', '/api/v1/mesh/contracts', { apiKey: agent.apiKey });
      expect(refused.status).toBe(401);
      expect(refused.body.error).toMatchObject({ code: 'UNAUTHENTICATED', message: 'the API key is invalid or revoked' });
      // The other process heard of it over Redis (its TTL is an hour).
      await eventually(async () => expect((await otherApi('GET', '/api/v1/mesh/contracts', { apiKey: agent.apiKey })).status).toBe(401), { timeout: 5_000, interval: 20 });
      // The agent's other key still works, in both.
      for (const a of [api, otherApi]) expect((await a('GET', '/api/v1/mesh/contracts', { apiKey: second.body.api_key })).status).toBe(200);
    } finally {
      await other.close();
      await otherDeps.close();
    }

    // Revoking it again, an unknown prefix, or someone else's agent's key: the 404.
    const prefix = agent.apiKey.slice(0, 10);
    expect((await api('DELETE', `/api/v1/agents/${agent.id}/api-keys/${prefix}`, { token: owner.token })).status).toBe(404);
    const mallory = await registerUser(api, 'Mallory');
    const secondPrefix = second.body.key_prefix as string;
    const foreign = await api('DELETE', `/api/v1/agents/${agent.id}/api-keys/${secondPrefix}`, { token: mallory.token });
    expect(foreign.status).toBe(404);
    expect(foreign.body.error.code).toBe('NOT_FOUND');
    const bad = await api('DELETE', `/api/v1/agents/${agent.id}/api-keys/nope`, { token: owner.token });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details[0].field).toBe('prefix');
    expect(checked.violations).toEqual([]);
  });

  it("drops an agent's cached capabilities when a new version changes them", async () => {
    const { api } = platform;
    const owner = await registerUser(api);
    const agent = await registerAgent(api, owner.token, { capabilities: ['pdf'] });
    const id = await postContract(api, owner.token, { required_capabilities: ['ocr'] });
    const refused = await api('POST', '/api/v1/mesh/bid', { apiKey: agent.apiKey, body: bidBody(id) });
    expect(refused.status).toBe(403);
    expect(refused.body.error).toMatchObject({ code: 'CAPABILITY_MISMATCH', message: 'agent lacks required capabilities: ocr' });
    // The capabilities change as the upload of a new version changes them: the next bid sees them.
    await platform.deps.knex('agents').where({ id: agent.id }).update({ capabilities: ['pdf', 'ocr'] });
    await platform.deps.auth.forgetAgent(agent.id);
    expect((await api('POST', '/api/v1/mesh/bid', { apiKey: agent.apiKey, body: bidBody(id) })).status).toBe(201);
    await api('POST', `/api/v1/contracts/${id}/cancel`, { token: owner.token });
  });
});

describe('deliver', () => {
  it('takes the awarded agent\'s delivery sent right after the award, before the row shows it', async () => {
    const checked = checkedClient(platform.api);
    const api = checked.call;
    const owner = await registerUser(api);
    const winner = await registerAgent(api, owner.token);
    const loser = await registerAgent(api, owner.token);
    const stranger = await registerAgent(api, owner.token);
    const id = await postContract(api, owner.token, { award_mode: 'manual' });
    const won = await api('POST', '/api/v1/mesh/bid', { apiKey: winner.apiKey, body: bidBody(id, 1_000) });
    expect(won.status).toBe(201);
    expect((await api('POST', '/api/v1/mesh/bid', { apiKey: loser.apiKey, body: bidBody(id, 2_000) })).status).toBe(201);

    // Before the award: a bidder may not deliver (403), an agent that never bid gets the 404.
    const early = await api('POST', '/api/v1/mesh/deliver', { apiKey: winner.apiKey, body: { contract_id: id, output: 'x' } });
    expect(early.status).toBe(403);
    expect(early.body.error.code).toBe('NOT_AWARDED_AGENT');

    const awarded = await api('POST', `/api/v1/contracts/${id}/award`, { token: owner.token, body: { bid_id: won.body.bid.id } });
    expect(awarded.status).toBe(200);
    // At once: the escrow is still being held and the row may not name the agent yet.
    const delivered = await api('POST', '/api/v1/mesh/deliver', { apiKey: winner.apiKey, body: { contract_id: id, output: { summary: 'done' } } });
    expect(delivered.status).toBe(201);
    expect(delivered.body.delivery).toMatchObject({ contract_id: id, attempt: 1 });

    const lost = await api('POST', '/api/v1/mesh/deliver', { apiKey: loser.apiKey, body: { contract_id: id, output: 'x' } });
    expect(lost.status).toBe(403);
    expect(lost.body.error.code).toBe('NOT_AWARDED_AGENT');
    const never = await api('POST', '/api/v1/mesh/deliver', { apiKey: stranger.apiKey, body: { contract_id: id, output: 'x' } });
    expect(never.status).toBe(404);
    expect(never.body.error).toMatchObject({ code: 'NOT_FOUND', details: [{ field: 'contract_id' }] });

    await waitForContract(api, owner.token, id, 'DELIVERED');
    expect((await api('POST', `/api/v1/contracts/${id}/accept`, { token: owner.token, body: { rating: 5 } })).status).toBe(200);
    await waitForContract(api, owner.token, id, 'SETTLED');

    // Closed: the workflow is gone (it closes just after the SETTLED row), and the row answers —
    // 409 for the owner and the winner, the same 404 as before for anyone else.
    await eventually(async () => {
      const closed = await api('POST', `/api/v1/contracts/${id}/cancel`, { token: owner.token });
      expect(closed.status).toBe(409);
      expect(closed.body.error.code).toBe('CONTRACT_CLOSED');
    }, { timeout: 10_000, interval: 50 });
    const mallory = await registerUser(api, 'Mallory');
    expect((await api('POST', `/api/v1/contracts/${id}/cancel`, { token: mallory.token })).status).toBe(404);
    expect((await api('POST', '/api/v1/mesh/deliver', { apiKey: winner.apiKey, body: { contract_id: id, output: 'x' } })).body.error.code).toBe('CONTRACT_CLOSED');
    expect((await api('POST', '/api/v1/mesh/deliver', { apiKey: loser.apiKey, body: { contract_id: id, output: 'x' } })).body.error.code).toBe('NOT_AWARDED_AGENT');
    expect((await api('POST', '/api/v1/mesh/deliver', { apiKey: stranger.apiKey, body: { contract_id: id, output: 'x' } })).status).toBe(404);
    expect((await api('POST', '/api/v1/mesh/bid', { apiKey: stranger.apiKey, body: bidBody(id) })).body.error.code).toBe('CONTRACT_CLOSED');
    expect(checked.violations).toEqual([]);
  });

  it('answers a missing contract with the 404, and leaves its Idempotency-Key unbound', async () => {
    const { api } = platform;
    const owner = await registerUser(api);
    const agent = await registerAgent(api, owner.token);
    const missing = '00000000-0000-4000-8000-000000000000';
    const headers = { 'Idempotency-Key': `k-${Date.now()}` };
    const bid = await api('POST', '/api/v1/mesh/bid', { apiKey: agent.apiKey, body: bidBody(missing), headers });
    expect(bid.status).toBe(404);
    expect(bid.body.error).toMatchObject({ code: 'NOT_FOUND', details: [{ field: 'contract_id' }] });
    // The key is free for another request, as when the route read the row first.
    const id = await postContract(api, owner.token);
    expect((await api('POST', '/api/v1/mesh/bid', { apiKey: agent.apiKey, body: bidBody(id), headers })).status).toBe(201);
    expect((await api('POST', `/api/v1/contracts/${missing}/cancel`, { token: owner.token })).status).toBe(404);
    await api('POST', `/api/v1/contracts/${id}/cancel`, { token: owner.token });
  });
});
