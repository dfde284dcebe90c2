import { Client, Connection } from '@temporalio/client';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../api/app';
import { eventually } from '../support/eventually';
import { apiClient, postContract, registerAgent, registerUser, startPlatform, waitForContract, type Api, type Platform } from '../support/platform';

// The retry contract of the state-changing contract requests: a retry, with the same
// Idempotency-Key or the same request, gets the first attempt's answer; the same key with
// another request is a 422; Temporal faults are a 503 with Retry-After, never a 500.
let platform: Platform;
beforeAll(async () => {
  platform = await startPlatform();
});
afterAll(async () => platform?.close());

const bidOf = (contractId: string, body: Record<string, unknown> = {}) => ({ contract_id: contractId, price_cents: 4_000, eta_seconds: 600, confidence: 0.9, ...body });
const keyed = (key: string) => ({ 'Idempotency-Key': key });

async function market(api: Api) {
  const user = await registerUser(api);
  const owner = await registerUser(api, 'Owner');
  const agent = await registerAgent(api, owner.token);
  const id = await postContract(api, user.token, { required_capabilities: ['pdf'] });
  return { user, agent, id };
}

/** A contract with one bid, awarded, escrow held and the agent's delivery in. */
async function delivered(api: Api) {
  const m = await market(api);
  expect((await api('POST', '/api/v1/mesh/bid', { apiKey: m.agent.apiKey, body: bidOf(m.id) })).status).toBe(201);
  expect((await api('POST', `/api/v1/contracts/${m.id}/close-bidding`, { token: m.user.token })).status).toBe(200);
  await waitForContract(api, m.user.token, m.id, 'IN_PROGRESS');
  expect((await api('POST', '/api/v1/mesh/deliver', { apiKey: m.agent.apiKey, body: { contract_id: m.id, output: { summary: 'done' } } })).status).toBe(201);
  await waitForContract(api, m.user.token, m.id, 'DELIVERED');
  return m;
}

/** Every key path of a JSON value, arrays by their first element: the shape of a representation. */
function shape(value: unknown, path = ''): string[] {
  if (Array.isArray(value)) return value.length ? shape(value[0], `${path}[]`) : [`${path}[]`];
  if (value === null || typeof value !== 'object') return [path];
  return Object.entries(value).flatMap(([k, v]) => [`${path}.${k}`, ...(['award', 'score', 'output'].includes(k) ? [] : shape(v, `${path}.${k}`))]);
}

describe('a retried request gets its first answer', () => {
  it.concurrent('a bid retried with its key after bidding closed gets the same bid, not 409 BIDDING_CLOSED', async () => {
    const { api } = platform;
    const { user, agent, id } = await market(api);
    const key = randomUUID();
    const first = await api('POST', '/api/v1/mesh/bid', { apiKey: agent.apiKey, body: bidOf(id), headers: keyed(key) });
    expect(first.status).toBe(201);
    expect((await api('POST', `/api/v1/contracts/${id}/close-bidding`, { token: user.token })).status).toBe(200);

    const retry = await api('POST', '/api/v1/mesh/bid', { apiKey: agent.apiKey, body: bidOf(id), headers: keyed(key) });
    expect({ status: retry.status, body: retry.body }).toEqual({ status: 201, body: first.body });
    // A new key is a new request, and bidding is closed.
    const fresh = await api('POST', '/api/v1/mesh/bid', { apiKey: agent.apiKey, body: bidOf(id, { replace: true }), headers: keyed(randomUUID()) });
    expect([fresh.status, fresh.body.error.code]).toEqual([409, 'BIDDING_CLOSED']);
    const contract = await waitForContract(api, user.token, id, 'IN_PROGRESS');
    expect(contract.bids).toEqual([expect.objectContaining({ id: first.body.bid.id, revision: 1, status: 'awarded' })]);
  });

  it.concurrent('the same key with another body is a 422 IDEMPOTENCY_KEY_REUSED and changes nothing', async () => {
    const { api } = platform;
    const { user, agent, id } = await market(api);
    const key = randomUUID();
    expect((await api('POST', '/api/v1/mesh/bid', { apiKey: agent.apiKey, body: bidOf(id), headers: keyed(key) })).status).toBe(201);

    const reused = await api('POST', '/api/v1/mesh/bid', { apiKey: agent.apiKey, body: bidOf(id, { price_cents: 3_000, replace: true }), headers: keyed(key) });
    expect(reused.status).toBe(422);
    expect(reused.body.error).toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED', details: [{ field: 'Idempotency-Key' }] });
    // The same key on another contract is another request too.
    const other = await postContract(api, user.token, { required_capabilities: ['pdf'] });
    const elsewhere = await api('POST', '/api/v1/mesh/bid', { apiKey: agent.apiKey, body: bidOf(other), headers: keyed(key) });
    expect([elsewhere.status, elsewhere.body.error?.code]).toEqual([422, 'IDEMPOTENCY_KEY_REUSED']);

    const contract = (await api('GET', `/api/v1/contracts/${id}`, { token: user.token })).body;
    expect(contract.bids).toEqual([expect.objectContaining({ price_cents: 4_000, revision: 1 })]);
    expect((await api('GET', `/api/v1/contracts/${other}`, { token: user.token })).body.bids).toEqual([]);
    // Keys are the caller's own: the owner may use the same string for its own request.
    const close = await api('POST', `/api/v1/contracts/${id}/close-bidding`, { token: user.token, headers: keyed(key) });
    expect(close.status).toBe(200);
  });

  it.concurrent('a malformed Idempotency-Key is a 400 naming the header', async () => {
    const { api } = platform;
    const { agent, id } = await market(api);
    for (const key of ['', 'k'.repeat(256), 'clé']) {
      const res = await api('POST', '/api/v1/mesh/bid', { apiKey: agent.apiKey, body: bidOf(id), headers: keyed(key) });
      expect([res.status, res.body.error.code, res.body.error.details]).toEqual([400, 'VALIDATION_ERROR', [{ field: 'Idempotency-Key' }]]);
    }
  });

  it.concurrent('an accept retried with its key gets the same answer, also after the contract settled', async () => {
    const { api } = platform;
    const { user, id } = await delivered(api);
    const key = randomUUID();
    const first = await api('POST', `/api/v1/contracts/${id}/accept`, { token: user.token, body: { rating: 5, comment: 'great' }, headers: keyed(key) });
    expect(first.status).toBe(200);
    expect(first.body.deliveries).toEqual([expect.objectContaining({ status: 'accepted', rating: 5, review_comment: 'great' })]);

    const again = await api('POST', `/api/v1/contracts/${id}/accept`, { token: user.token, body: { rating: 5, comment: 'great' }, headers: keyed(key) });
    expect({ status: again.status, body: again.body }).toEqual({ status: 200, body: first.body });
    await waitForContract(api, user.token, id, 'SETTLED');
    await platform.deps.temporal.workflow.getHandle(`contract-${id}`).result();
    const late = await api('POST', `/api/v1/contracts/${id}/accept`, { token: user.token, body: { rating: 5, comment: 'great' }, headers: keyed(key) });
    expect({ status: late.status, body: late.body }).toEqual({ status: 200, body: first.body });
    // Another review of the same delivery is another request: refused, as it was reviewed.
    const other = await api('POST', `/api/v1/contracts/${id}/reject`, { token: user.token, body: { reason: 'changed my mind' }, headers: keyed(randomUUID()) });
    expect(other.status).toBe(409);
  });

  it.concurrent('without a key, the same bid and the same accept sent again get their first answers', async () => {
    const { api } = platform;
    const { user, agent, id } = await market(api);
    const first = await api('POST', '/api/v1/mesh/bid', { apiKey: agent.apiKey, body: bidOf(id) });
    expect(first.status).toBe(201);
    expect((await api('POST', `/api/v1/contracts/${id}/close-bidding`, { token: user.token })).status).toBe(200);
    const again = await api('POST', '/api/v1/mesh/bid', { apiKey: agent.apiKey, body: bidOf(id) });
    expect({ status: again.status, body: again.body }).toEqual({ status: 201, body: first.body });

    await waitForContract(api, user.token, id, 'IN_PROGRESS');
    const dlv = await api('POST', '/api/v1/mesh/deliver', { apiKey: agent.apiKey, body: { contract_id: id, output: 'ok' } });
    expect([dlv.status, dlv.body.error]).toEqual([201, undefined]);
    await waitForContract(api, user.token, id, 'DELIVERED');
    const accepted = await api('POST', `/api/v1/contracts/${id}/accept`, { token: user.token, body: { rating: 4 } });
    expect(accepted.status).toBe(200);
    await waitForContract(api, user.token, id, 'SETTLED');
    const acceptedAgain = await api('POST', `/api/v1/contracts/${id}/accept`, { token: user.token, body: { rating: 4 } });
    expect({ status: acceptedAgain.status, body: acceptedAgain.body }).toEqual({ status: 200, body: accepted.body });
  });

  it.concurrent('close-bidding answers the contract as GET shows it, as of the close', async () => {
    const { api } = platform;
    const { user, agent, id } = await market(api);
    const bid = await api('POST', '/api/v1/mesh/bid', { apiKey: agent.apiKey, body: bidOf(id) });
    const closed = await api('POST', `/api/v1/contracts/${id}/close-bidding`, { token: user.token });
    expect(closed.status).toBe(200);
    expect(closed.body).toMatchObject({ id, status: 'BIDDING', award: null, bids: [{ id: bid.body.bid.id, status: 'active', price_cents: 4_000 }] });

    const got = await waitForContract(api, user.token, id, 'IN_PROGRESS');
    expect(shape(closed.body).sort()).toEqual(shape(got).sort());
    // A second close is the same request: it gets the first close's answer.
    const again = await api('POST', `/api/v1/contracts/${id}/close-bidding`, { token: user.token });
    expect({ status: again.status, body: again.body }).toEqual({ status: 200, body: closed.body });
  });
});

// Faults: an API whose Temporal is gone, and a worker that is down while a bid comes in.
describe('Temporal faults are a 503 with Retry-After', () => {
  async function listen(app: ReturnType<typeof createApp>): Promise<{ server: Server; api: Api }> {
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    return { server, api: apiClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}`) };
  }

  it('an API whose Temporal stopped answers 503 UNAVAILABLE with Retry-After', async () => {
    const { api } = platform;
    const { user, agent, id } = await market(api);
    // A port where a Temporal server was and is no more: nothing listens there now.
    const gone = createServer().listen(0, '127.0.0.1');
    await new Promise((r) => gone.once('listening', r));
    const port = (gone.address() as AddressInfo).port;
    await new Promise((r) => gone.close(r));
    const connection = Connection.lazy({ address: `127.0.0.1:${port}` });
    const app = createApp({ ...platform.deps, temporal: new Client({ connection }), config: { ...platform.config, API_TEMPORAL_TIMEOUT_SECONDS: 2 } });
    const { server, api: down } = await listen(app);
    try {
      for (const res of [
        await down('POST', '/api/v1/mesh/bid', { apiKey: agent.apiKey, body: bidOf(id), headers: keyed(randomUUID()) }),
        await down('POST', `/api/v1/contracts/${id}/close-bidding`, { token: user.token }),
      ]) {
        expect(res.status).toBe(503);
        expect(res.body.error.code).toBe('UNAVAILABLE');
        expect(res.body.error.message).toMatch(/retry it with the same Idempotency-Key/);
        expect(Number(res.headers.get('Retry-After'))).toBeGreaterThan(0);
      }
    } finally {
      await new Promise((r) => server.close(r));
      await connection.close();
    }
    // Nothing took effect.
    expect((await api('GET', `/api/v1/contracts/${id}`, { token: user.token })).body).toMatchObject({ status: 'BIDDING', bids: [] });
  });

  it('a bid sent while the worker is down is a 503; it takes effect later, and its retry gets that answer', async () => {
    const faulty = await startPlatform({ API_TEMPORAL_TIMEOUT_SECONDS: 3 });
    try {
      const { api } = faulty;
      const { user, agent, id } = await market(api);
      await faulty.stopWorker();
      const key = randomUUID();
      const timedOut = await api('POST', '/api/v1/mesh/bid', { apiKey: agent.apiKey, body: bidOf(id), headers: keyed(key) });
      expect([timedOut.status, timedOut.body.error.code]).toEqual([503, 'UNAVAILABLE']);
      expect(timedOut.headers.get('Retry-After')).toBeTruthy();

      // Temporal kept the update: once a worker is back it is applied, and its retry gets the
      // bid and writes its row; after bidding closed, a retry still gets the same answer.
      await faulty.startWorker();
      const retry = await eventually(async () => {
        const res = await api('POST', '/api/v1/mesh/bid', { apiKey: agent.apiKey, body: bidOf(id), headers: keyed(key) });
        expect(res.status).toBe(201);
        return res;
      });
      expect(retry.body.bid).toMatchObject({ revision: 1, price_cents: 4_000 });
      expect((await api('GET', `/api/v1/contracts/${id}`, { token: user.token })).body.bids).toMatchObject([{ id: retry.body.bid.id, revision: 1 }]);
      expect((await api('POST', `/api/v1/contracts/${id}/close-bidding`, { token: user.token })).status).toBe(200);
      const late = await api('POST', '/api/v1/mesh/bid', { apiKey: agent.apiKey, body: bidOf(id), headers: keyed(key) });
      expect({ status: late.status, body: late.body }).toEqual({ status: 201, body: retry.body });
    } finally {
      await faulty.close();
    }
  });
});

// The workflow takes a bid, then the API writes its row before it answers (db/bids.ts). When
// that write fails the answer is a 503 that asks for the same request again; the award writes
// the row of a bid whose retry never came.
describe('a bid taken whose row could not be written', () => {
  // A trigger refuses this agent's bid rows, as a Postgres fault would, until it is dropped.
  async function refuseRowsOf(agentId: string): Promise<() => Promise<void>> {
    const { knex } = platform.deps;
    const fn = `test_refuse_bids_${agentId.replaceAll('-', '_')}`;
    await knex.raw(`CREATE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.agent_id = '${agentId}' THEN RAISE EXCEPTION 'test: bid rows refused' USING ERRCODE = '40001'; END IF; RETURN NEW; END $$`);
    await knex.raw(`CREATE TRIGGER ${fn} BEFORE INSERT OR UPDATE ON bids FOR EACH ROW EXECUTE FUNCTION ${fn}()`);
    return async () => {
      await knex.raw(`DROP TRIGGER ${fn} ON bids`);
      await knex.raw(`DROP FUNCTION ${fn}()`);
    };
  }

  it.concurrent('is a 503 asking for the same request; that request gets the bid and writes it', async () => {
    const { api } = platform;
    const { user, agent, id } = await market(api);
    const allow = await refuseRowsOf(agent.id);
    const refused = await api('POST', '/api/v1/mesh/bid', { apiKey: agent.apiKey, body: bidOf(id) });
    await allow();
    expect([refused.status, refused.body.error.code]).toEqual([503, 'UNAVAILABLE']);
    expect(refused.body.error.message).toMatch(/send the same request again/);
    expect(refused.headers.get('Retry-After')).toBeTruthy();
    expect((await api('GET', `/api/v1/contracts/${id}`, { token: user.token })).body.bids).toEqual([]);

    // The contract holds the bid: the same request confirms it (201, revision 1), another is a duplicate.
    const again = await api('POST', '/api/v1/mesh/bid', { apiKey: agent.apiKey, body: bidOf(id) });
    expect(again.status).toBe(201);
    expect(again.body.bid).toMatchObject({ revision: 1, price_cents: 4_000 });
    expect((await api('GET', `/api/v1/contracts/${id}`, { token: user.token })).body.bids).toMatchObject([{ id: again.body.bid.id, revision: 1 }]);
    const other = await api('POST', '/api/v1/mesh/bid', { apiKey: agent.apiKey, body: bidOf(id, { price_cents: 3_000 }) });
    expect([other.status, other.body.error.code]).toEqual([409, 'DUPLICATE_BID']);
  });

  it.concurrent('never confirmed, is written with the award it wins', async () => {
    const { api } = platform;
    const { user, agent, id } = await market(api);
    const allow = await refuseRowsOf(agent.id);
    expect((await api('POST', '/api/v1/mesh/bid', { apiKey: agent.apiKey, body: bidOf(id) })).status).toBe(503);
    await allow();
    expect((await api('POST', `/api/v1/contracts/${id}/close-bidding`, { token: user.token })).status).toBe(200);
    const awarded = await waitForContract(api, user.token, id, 'IN_PROGRESS');
    expect(awarded.bids).toMatchObject([{ agent_id: agent.id, status: 'awarded', revision: 1, price_cents: 4_000 }]);
  });
});
