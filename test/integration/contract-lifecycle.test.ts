import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HermesStatus } from '../../domain/search-attributes';
import { eventually } from '../support/eventually';
import { postContract, registerAgent, registerUser, startPlatform, waitForContract, type Platform } from '../support/platform';

// Each contract's whole life through HTTP, with the real worker, Postgres, Temporal and
// stripe-mock underneath.
let platform: Platform;
beforeAll(async () => {
  platform = await startPlatform();
});
afterAll(async () => platform?.close());

async function market() {
  const { api } = platform;
  const user = await registerUser(api);
  const owner = await registerUser(api, 'Owner');
  const agent = await registerAgent(api, owner.token);
  return { api, user, owner, agent };
}

async function awarded(body: Record<string, unknown> = {}) {
  const m = await market();
  const id = await postContract(m.api, m.user.token, { required_capabilities: ['pdf'], ...body });
  const bid = await m.api('POST', '/api/v1/mesh/bid', {
    apiKey: m.agent.apiKey,
    body: { contract_id: id, price_cents: 4_000, eta_seconds: 600, confidence: 0.9 },
  });
  expect(bid.status).toBe(201);
  expect((await m.api('POST', `/api/v1/contracts/${id}/close-bidding`, { token: m.user.token })).status).toBe(200);
  const contract = await waitForContract(m.api, m.user.token, id, 'IN_PROGRESS');
  return { ...m, id, contract };
}

const paymentsFor = (id: string) => platform.deps.knex('payments').where({ contract_id: id });

describe('a contract through HTTP', () => {
  it.concurrent('settles: post, bid, award, escrow, deliver, accept; shows SETTLED in Temporal', async () => {
    const { api, user, agent, id, contract } = await awarded();
    expect(contract.award).toMatchObject({ agent_id: agent.id, price_cents: 4_000 });
    expect(contract.bids).toHaveLength(1);
    expect(contract.bids[0]).toMatchObject({ status: 'awarded', score: { rank: 1 } });

    const delivered = await api('POST', '/api/v1/mesh/deliver', { apiKey: agent.apiKey, body: { contract_id: id, output: { summary: '40 PDFs, 3 themes' } } });
    expect(delivered.status).toBe(201);
    await waitForContract(api, user.token, id, 'DELIVERED');
    const accepted = await api('POST', `/api/v1/contracts/${id}/accept`, { token: user.token, body: { rating: 5, comment: 'great' } });
    expect(accepted.status).toBe(200);

    const settled = await waitForContract(api, user.token, id, 'SETTLED');
    expect(settled.deliveries).toEqual([expect.objectContaining({ output: { summary: '40 PDFs, 3 themes' }, status: 'accepted', rating: 5 })]);
    expect(settled.rating).toBe(5);
    expect(await paymentsFor(id)).toEqual([expect.objectContaining({ status: 'captured', amount_cents: 4_000, captured_cents: 4_000 })]);
    const metric = await platform.deps.knex('agent_metrics').where({ contract_id: id }).first();
    expect(metric).toMatchObject({ agent_id: agent.id, outcome: 'success', rating: 5, price_cents: 4_000, promised_eta_seconds: 600 });
    expect((await api('GET', `/api/v1/agents/${agent.id}`)).body).toMatchObject({ tasks_completed: 1, rating: 5 });

    // Postgres says SETTLED with the ledger write; the workflow closes a moment later.
    const handle = platform.deps.temporal.workflow.getHandle(`contract-${id}`);
    await handle.result();
    const description = await handle.describe();
    expect(description.typedSearchAttributes.get(HermesStatus)).toBe('SETTLED');
  });

  it.concurrent('expires when nobody bids before the deadline', async () => {
    const { api, user } = await market();
    const id = await postContract(api, user.token, { bidding_window_seconds: 1 });
    const contract = await waitForContract(api, user.token, id, 'EXPIRED');
    expect(contract.status_detail).toBe('no bids were received');
    expect(await paymentsFor(id)).toEqual([]);
  });

  it.concurrent('cancels after award and voids the escrow', async () => {
    const { api, user, id } = await awarded();
    const res = await api('POST', `/api/v1/contracts/${id}/cancel`, { token: user.token, body: { reason: 'no longer needed' } });
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('CANCELLED');
    const contract = await waitForContract(api, user.token, id, 'CANCELLED');
    expect(contract.status_detail).toBe('no longer needed');
    expect(await paymentsFor(id)).toEqual([expect.objectContaining({ status: 'voided' })]);
  });

  it.concurrent('fails when the agent misses the delivery deadline, voiding the escrow', async () => {
    const { api, user, agent, id } = await awarded({ delivery_window_seconds: 1 });
    const contract = await waitForContract(api, user.token, id, 'FAILED');
    expect(contract.failure_reason).toBe('delivery_missed');
    expect(await paymentsFor(id)).toEqual([expect.objectContaining({ status: 'voided' })]);
    const late = await api('POST', '/api/v1/mesh/deliver', { apiKey: agent.apiKey, body: { contract_id: id, output: 'late' } });
    expect(late.status).toBe(409);
  });

  it.concurrent('fails when the owner rejects the delivery, voiding the escrow', async () => {
    const { api, user, agent, id } = await awarded();
    await api('POST', '/api/v1/mesh/deliver', { apiKey: agent.apiKey, body: { contract_id: id, output: 'half done' } });
    await waitForContract(api, user.token, id, 'DELIVERED');
    const res = await api('POST', `/api/v1/contracts/${id}/reject`, { token: user.token, body: { reason: 'only half the PDFs' } });
    expect(res.status).toBe(200);
    const contract = await waitForContract(api, user.token, id, 'FAILED');
    expect(contract).toMatchObject({ failure_reason: 'rejected', status_detail: 'only half the PDFs' });
    expect(contract.deliveries[0]).toMatchObject({ status: 'rejected', review_comment: 'only half the PDFs' });
    expect(await paymentsFor(id)).toEqual([expect.objectContaining({ status: 'voided' })]);
    expect(await platform.deps.knex('agent_metrics').where({ contract_id: id }).first()).toMatchObject({ outcome: 'failure', failure_reason: 'rejected' });
  });

  it.concurrent('settles a free contract without touching Stripe', async () => {
    const { api, user, agent } = await market();
    const id = await postContract(api, user.token, { reward_cents: 0, review_window_seconds: 1 });
    await api('POST', '/api/v1/mesh/bid', { apiKey: agent.apiKey, body: { contract_id: id, price_cents: 0, eta_seconds: 60, confidence: 1 } });
    await api('POST', `/api/v1/contracts/${id}/close-bidding`, { token: user.token });
    await waitForContract(api, user.token, id, 'IN_PROGRESS');
    await api('POST', '/api/v1/mesh/deliver', { apiKey: agent.apiKey, body: { contract_id: id, output: 'ok' } });
    // Silence through the 1 s review window accepts.
    const contract = await waitForContract(api, user.token, id, 'SETTLED');
    expect(contract.deliveries[0]).toMatchObject({ status: 'accepted', rating: null });
    expect(await paymentsFor(id)).toEqual([]);
  });

  it.concurrent('lets the owner award manually', async () => {
    const { api, user, owner, agent } = await market();
    const other = await registerAgent(api, owner.token, { name: 'second' });
    const id = await postContract(api, user.token, { award_mode: 'manual' });
    await api('POST', '/api/v1/mesh/bid', { apiKey: agent.apiKey, body: { contract_id: id, price_cents: 1_000, eta_seconds: 60, confidence: 1 } });
    const second = await api('POST', '/api/v1/mesh/bid', { apiKey: other.apiKey, body: { contract_id: id, price_cents: 4_500, eta_seconds: 60, confidence: 0.5 } });
    const res = await api('POST', `/api/v1/contracts/${id}/award`, { token: user.token, body: { bid_id: second.body.bid.id } });
    expect(res.status).toBe(200);
    expect(res.body.award).toMatchObject({ agent_id: other.id, bid_id: second.body.bid.id, detail: { mode: 'manual' } });
    const contract = await waitForContract(api, user.token, id, 'IN_PROGRESS');
    expect(contract.award.agent_id).toBe(other.id);
    await api('POST', `/api/v1/contracts/${id}/cancel`, { token: user.token });
  });
});

describe('re-award through HTTP', () => {
  it('a rejected delivery goes to the next-ranked bid, whose delivery settles; the escrow follows', async () => {
    const { api } = platform;
    const user = await registerUser(api);
    const owner = await registerUser(api, 'Owner');
    const first = await registerAgent(api, owner.token, { name: 'first' });
    const second = await registerAgent(api, owner.token, { name: 'second' });
    const id = await postContract(api, user.token, { required_capabilities: ['pdf'], max_reawards: 1 });
    await api('POST', '/api/v1/mesh/bid', { apiKey: first.apiKey, body: { contract_id: id, price_cents: 2_000, eta_seconds: 600, confidence: 0.9 } });
    await api('POST', '/api/v1/mesh/bid', { apiKey: second.apiKey, body: { contract_id: id, price_cents: 3_000, eta_seconds: 600, confidence: 0.9 } });
    await api('POST', `/api/v1/contracts/${id}/close-bidding`, { token: user.token });
    await waitForContract(api, user.token, id, 'IN_PROGRESS');
    await api('POST', '/api/v1/mesh/deliver', { apiKey: first.apiKey, body: { contract_id: id, output: 'draft' } });
    await waitForContract(api, user.token, id, 'DELIVERED');
    expect((await api('POST', `/api/v1/contracts/${id}/reject`, { token: user.token, body: { reason: 'not what I asked' } })).status).toBe(200);

    // Awarded again, to the second agent, at its price.
    const contract = await eventually(async () => {
      const body = (await api('GET', `/api/v1/contracts/${id}`, { token: user.token })).body;
      expect([body.status, body.award?.agent_id]).toEqual(['IN_PROGRESS', second.id]);
      return body;
    });
    expect(contract.award).toMatchObject({ agent_id: second.id, price_cents: 3_000 });
    expect((await api('POST', '/api/v1/mesh/deliver', { apiKey: first.apiKey, body: { contract_id: id, output: 'again' } })).status).toBe(403);
    expect((await api('POST', '/api/v1/mesh/deliver', { apiKey: second.apiKey, body: { contract_id: id, output: 'final' } })).status).toBe(201);
    await waitForContract(api, user.token, id, 'DELIVERED');
    await api('POST', `/api/v1/contracts/${id}/accept`, { token: user.token, body: { rating: 5 } });
    const settled = await waitForContract(api, user.token, id, 'SETTLED');

    expect(settled.deliveries.map((d: { attempt: number; status: string; agent_id: string }) => [d.attempt, d.status, d.agent_id])).toEqual([
      [1, 'rejected', first.id],
      [2, 'accepted', second.id],
    ]);
    const payments = await platform.deps.knex('payments').where({ contract_id: id }).orderBy('created_at');
    expect(payments.map((p) => [p.agent_id, p.amount_cents, p.status])).toEqual([
      [first.id, 2_000, 'voided'],
      [second.id, 3_000, 'captured'],
    ]);
    const metrics = await platform.deps.knex('agent_metrics').where({ contract_id: id });
    expect(Object.fromEntries(metrics.map((m) => [m.agent_id, m.outcome]))).toEqual({ [first.id]: 'failure', [second.id]: 'success' });
  });
});
