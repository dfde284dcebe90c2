import { io as connect, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nonSnakeKeys } from '../support/casing';
import { eventually } from '../support/eventually';
import { registerAgent, registerUser, startPlatform, uploadAgent, type Api, type Platform } from '../support/platform';
import { exampleAgent } from '../support/wasm';

// One casing: the README walk-throughs (a contract with bids, award, deliveries and reviews;
// agents, a WASM agent and its tasks; trust; wallet and payments; A2A), done through the real
// API and Socket.IO, and every key of every response body, ack and event payload walked at any
// depth. Client data (context, output, message bodies) is snake_case here, so nothing is skipped.
//
// Hermes serves no A2A protocol binding yet; its /a2a/conversations routes are Hermes' own API
// and snake_case like the rest. Once the A2A JSON-RPC binding is served, its responses are
// walked with the spec's own field names allowed (protobuf JSON, camelCase: contextId, ...).

let platform: Platform;
let api: Api;
const sockets: Socket[] = [];
beforeAll(async () => {
  platform = await startPlatform();
  api = recording(platform.api);
});
afterAll(async () => {
  for (const s of sockets) s.close();
  await platform?.close();
});

/** What the server said since the last check: where from, and the JSON. */
let said: { from: string; body: unknown }[] = [];
/** Every event any socket received, for waiting on. */
const events: { event: string; payload: Record<string, any> }[] = [];

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;
const routeOf = (path: string) => path.replace(UUID, ':id').replace(/\?.*/, '');

function recording(call: Api): Api {
  return (async (method: string, path: string, opts?: Parameters<Api>[2]) => {
    const res = await call(method, path, opts);
    said.push({ from: `${method} ${routeOf(path)} → ${res.status}`, body: res.body });
    return res;
  }) as Api;
}

/** Fails naming every non-snake_case key the server sent since the last check. */
function expectAllSnakeCase() {
  const offences = said.flatMap((s) => nonSnakeKeys(s.body).map((p) => `${s.from}: ${p}`));
  const routes = said.length;
  said = [];
  expect(routes).toBeGreaterThan(0);
  expect(offences).toEqual([]);
}

function open(auth: Record<string, unknown>): Socket {
  const socket = connect(platform.base, { auth, transports: ['websocket'], reconnection: false, forceNew: true });
  sockets.push(socket);
  socket.onAny((event: string, payload: Record<string, any>) => {
    said.push({ from: `socket ${event}`, body: payload });
    events.push({ event, payload });
  });
  socket.on('connect_error', (err: Error & { data?: unknown }) => said.push({ from: 'socket connect_error', body: err.data ?? null }));
  return socket;
}

async function ready(auth: Record<string, unknown>): Promise<Socket> {
  const socket = open(auth);
  await new Promise<void>((resolve, reject) => {
    socket.once('ready', () => resolve());
    socket.once('connect_error', reject);
  });
  return socket;
}

/** Emits with an ack and records the ack's answer. */
function ask(socket: Socket, event: string, body: unknown): Promise<Record<string, any>> {
  return new Promise((resolve) =>
    socket.emit(event, body, (answer: Record<string, any>) => {
      said.push({ from: `socket ${event} ack`, body: answer });
      resolve(answer);
    }),
  );
}

function waitForEvent(event: string, match: (p: Record<string, any>) => boolean) {
  return eventually(() => events.find((e) => e.event === event && match(e.payload)) ?? false, { message: `waiting for ${event}` });
}

async function waitForStatus(token: string, id: string, status: string) {
  return eventually(
    async () => {
      const { body } = await api('GET', `/api/v1/contracts/${id}`, { token });
      expect(body.status).toBe(status);
      return body;
    },
    { timeout: 30_000, interval: 100 },
  );
}

async function post(token: string, body: Record<string, unknown>) {
  const res = await api('POST', '/api/v1/contracts', {
    token,
    body: { intent: 'Summarise these 40 PDFs', reward_cents: 5_000, context: { documents: 40, source_urls: ['https://example.com/a.pdf'] }, ...body },
  });
  expect(res.status).toBe(201);
  return res.body.id as string;
}

const bid = (apiKey: string, contractId: string, priceCents: number) =>
  api('POST', '/api/v1/mesh/bid', { apiKey, body: { contract_id: contractId, price_cents: priceCents, eta_seconds: 600, confidence: 0.9, message: 'on it' } });

describe('the casing check', () => {
  it('finds a camelCase key at any depth, and only those', () => {
    const body = { data: [{ award: { detail: { ranking: [{ bidId: 'x', excluded_by: [] }] } } }], top_words: [{ word: 'a' }], last4: '4242' };
    expect(nonSnakeKeys(body)).toEqual(['$.data[0].award.detail.ranking[0].bidId']);
    expect(nonSnakeKeys({ contextId: 'c', 'kebab-case': 1, Capital: 2 }, '$', new Set(['contextId']))).toEqual(['$.kebab-case', '$.Capital']);
  });
});

describe('every response and event is snake_case', () => {
  // Shared by the walk-through below, as in the README.
  let user: Awaited<ReturnType<typeof registerUser>>;
  let owner: Awaited<ReturnType<typeof registerUser>>;
  let summariser: { id: string; apiKey: string };
  let rival: { id: string; apiKey: string };
  const capability = `casing-${Date.now()}`;

  it('accounts, agents, preferences, payment methods, health and error envelopes', async () => {
    user = await registerUser(api);
    owner = await registerUser(api, 'Owner');
    await api('POST', '/api/v1/auth/login', { body: { email: user.email, password: 'correct horse battery' } });
    summariser = await registerAgent(api, owner.token, { name: 'summariser', description: 'Summarises PDFs', capabilities: [capability] });
    rival = await registerAgent(api, owner.token, { name: 'rival', capabilities: [capability] });
    await api('POST', `/api/v1/agents/${summariser.id}/api-keys`, { token: owner.token });
    await api('GET', `/api/v1/agents?capability=${capability}`);
    await api('GET', '/api/v1/agents/search?q=summarises');
    await api('GET', `/api/v1/agents/${summariser.id}`);
    await api('GET', `/api/v1/agents/${summariser.id}/binaries`);

    await api('GET', '/api/v1/preferences', { token: user.token });
    await api('PUT', '/api/v1/preferences', {
      token: user.token,
      body: { weights: { price: 4_000, performance: 2_000, speed: 2_000, reputation: 2_000 }, default_filters: { min_confidence: 0.5 } },
    });
    expect((await api('POST', '/api/v1/payments/methods', { token: user.token, body: { payment_method: 'pm_card_visa' } })).status).toBe(201);
    await api('GET', '/api/v1/payments/methods', { token: user.token });
    await api('GET', '/health');
    await api('GET', '/ready');
    const event = JSON.stringify({ id: `evt_casing_${Date.now()}`, object: 'event', type: 'customer.created', created: Math.floor(Date.now() / 1000), data: { object: { id: 'cus_x' } } });
    const signature = platform.deps.stripe.webhooks.generateTestHeaderString({ payload: event, secret: platform.config.STRIPE_WEBHOOK_SECRET });
    expect((await api('POST', '/api/v1/webhooks/stripe', { rawBody: event, headers: { 'Stripe-Signature': signature } })).status).toBe(200);

    // Error envelopes: validation naming a field, unauthenticated, not found, wrong method.
    expect((await api('POST', '/api/v1/contracts', { token: user.token, body: { intent: 'x', reward_cents: -1 } })).status).toBe(400);
    expect((await api('GET', '/api/v1/contracts')).status).toBe(401);
    expect((await api('GET', `/api/v1/contracts/${summariser.id}`, { token: user.token })).status).toBe(404);
    expect((await api('DELETE', '/api/v1/contracts', { token: user.token })).status).toBe(405);
    expectAllSnakeCase();
  });

  it('a contract with two bids, an auto award, a delivery and an accept, watched live', async () => {
    const agentSocket = await ready({ api_key: summariser.apiKey });
    await ready({ api_key: rival.apiKey });
    const userSocket = await ready({ token: user.token });
    await ask(agentSocket, 'presence:heartbeat', {});

    const id = await post(user.token, { required_capabilities: [capability], bidding_window_seconds: 300 });
    expect(await ask(userSocket, 'subscribe', { contract_id: id })).toMatchObject({ ok: true, contract_id: id });
    await waitForEvent('contract:new', (p) => p.contract_id === id);
    await api('GET', '/api/v1/mesh/contracts', { apiKey: summariser.apiKey });
    expect((await bid(summariser.apiKey, id, 4_000)).status).toBe(201);
    expect((await bid(rival.apiKey, id, 4_500)).status).toBe(201);
    await waitForEvent('bid:new', (p) => p.contract_id === id && p.agent_id === rival.id);
    await api('GET', `/api/v1/contracts/${id}`, { token: user.token });
    await api('GET', `/api/v1/contracts/${id}/state`, { token: user.token });

    expect((await api('POST', `/api/v1/contracts/${id}/close-bidding`, { token: user.token })).status).toBe(200);
    const awarded = await waitForStatus(user.token, id, 'IN_PROGRESS');
    // The award's detail and each bid's score are the ranking, renamed at the edge.
    expect(awarded.award.detail).toMatchObject({ bid_id: expect.any(String), agent_id: summariser.id, price_cents: 4_000, mode: 'auto', awarded_at: expect.any(String) });
    expect(awarded.award.detail.ranking[0]).toMatchObject({ agent_id: summariser.id, eta_seconds: 600, eligible: true, excluded_by: [], rank: 1 });
    expect(awarded.bids.map((b: { score: { rank: number } }) => b.score.rank).sort()).toEqual([1, 2]);
    expect(await waitForEvent('contract:awarded', (p) => p.contract_id === id)).toMatchObject({ payload: { delivery_deadline: expect.any(String) } });
    await api('GET', `/api/v1/contracts/${id}/state`, { token: user.token });

    const delivered = await api('POST', '/api/v1/mesh/deliver', { apiKey: summariser.apiKey, body: { contract_id: id, output: { summary: 'done', page_count: 40 } } });
    expect(delivered.status).toBe(201);
    await waitForEvent('delivery:new', (p) => p.contract_id === id);
    await waitForStatus(user.token, id, 'DELIVERED');
    await api('GET', `/api/v1/contracts/${id}/state`, { token: user.token });
    expect((await api('POST', `/api/v1/contracts/${id}/accept`, { token: user.token, body: { rating: 5, comment: 'great' } })).status).toBe(200);
    await waitForStatus(user.token, id, 'SETTLED');
    await waitForEvent('contract:closed', (p) => p.contract_id === id);
    await waitForEvent('contract:status', (p) => p.contract_id === id && p.status === 'SETTLED');
    await api('GET', `/api/v1/contracts/${id}/state`, { token: user.token });
    await api('GET', '/api/v1/contracts', { token: user.token });
    await api('GET', '/api/v1/payments/history', { token: user.token });
    await ask(userSocket, 'unsubscribe', { contract_id: id });
    expectAllSnakeCase();

    // What the settlement left: trust, the owner's wallet and a withdrawal.
    await api('GET', `/api/v1/marketplace/agents/${summariser.id}/trust-score`);
    await api('GET', `/api/v1/marketplace/agents/${summariser.id}/reputation`);
    await api('GET', '/api/v1/marketplace/leaderboard?metric=total_earnings&limit=5');
    await api('GET', '/api/v1/wallet', { token: owner.token });
    await api('GET', '/api/v1/wallet/transactions', { token: owner.token });
    expect((await api('POST', '/api/v1/wallet/payout-account', { token: owner.token })).status).toBe(201);
    const withdrawal = await api('POST', '/api/v1/wallet/withdrawals', { token: owner.token, body: { amount_cents: 100 }, headers: { 'Idempotency-Key': `casing-${id}` } });
    expect(withdrawal.status).toBe(202);
    await api('GET', '/api/v1/wallet/withdrawals', { token: owner.token });
    await api('GET', `/api/v1/wallet/withdrawals/${withdrawal.body.id}`, { token: owner.token });
    expectAllSnakeCase();

    // Agent to agent, about the contract, live to the other one.
    const conversation = await api('POST', '/api/v1/a2a/conversations', { apiKey: summariser.apiKey, body: { agent_id: rival.id, contract_id: id, subject: 'split work' } });
    expect(conversation.status).toBe(201);
    const cid = conversation.body.id as string;
    await api('POST', `/api/v1/a2a/conversations/${cid}/messages`, { apiKey: summariser.apiKey, body: { type: 'proposal', body: { page_range: [1, 20] } } });
    await waitForEvent('a2a:message', (p) => p.conversation_id === cid);
    await api('GET', '/api/v1/a2a/conversations', { apiKey: rival.apiKey });
    await api('GET', `/api/v1/a2a/conversations/${cid}/messages`, { apiKey: rival.apiKey });
    await api('POST', `/api/v1/a2a/conversations/${cid}/close`, { apiKey: rival.apiKey });
    await waitForEvent('a2a:closed', (p) => p.conversation_id === cid);
    expectAllSnakeCase();
  }, 120_000);

  it('a manual award then a reject, a cancel heard by its bidder, and a refused bid', async () => {
    const manual = await post(user.token, { required_capabilities: [capability], award_mode: 'manual', max_reawards: 0 });
    const offer = await bid(summariser.apiKey, manual, 3_000);
    expect((await api('POST', `/api/v1/contracts/${manual}/award`, { token: user.token, body: { bid_id: offer.body.bid.id } })).status).toBe(200);
    await waitForStatus(user.token, manual, 'IN_PROGRESS');
    await api('POST', '/api/v1/mesh/deliver', { apiKey: summariser.apiKey, body: { contract_id: manual, output: 'a draft' } });
    await waitForStatus(user.token, manual, 'DELIVERED');
    expect((await api('POST', `/api/v1/contracts/${manual}/reject`, { token: user.token, body: { reason: 'too short' } })).status).toBe(200);
    await waitForStatus(user.token, manual, 'FAILED');
    await api('GET', `/api/v1/contracts/${manual}/state`, { token: user.token });
    // Bidding is closed: the workflow's refusal, in the envelope.
    expect((await bid(rival.apiKey, manual, 2_000)).status).toBe(409);

    const cancelled = await post(user.token, { required_capabilities: [capability] });
    await bid(rival.apiKey, cancelled, 2_500);
    expect((await api('POST', `/api/v1/contracts/${cancelled}/cancel`, { token: user.token, body: { reason: 'changed my mind' } })).status).toBe(200);
    await waitForEvent('contract:cancelled', (p) => p.contract_id === cancelled);
    expectAllSnakeCase();
  }, 120_000);

  it('a WASM agent: upload, direct tasks, and a contract it wins with its sandbox runs', async () => {
    const uploaded = await uploadAgent(platform.base, owner.token, exampleAgent('text-stats'), { name: 'text stats', capabilities: `${capability}-text`, price_cents: '1500' });
    said.push({ from: 'POST /agents/upload', body: uploaded.body });
    expect(uploaded.status).toBe(201);
    const wasm = { id: uploaded.body.agent.id as string, apiKey: uploaded.body.api_key as string };
    await api('GET', `/api/v1/agents/${wasm.id}/binaries`);

    const task = await api('POST', '/api/v1/tasks', { token: owner.token, body: { agent_id: wasm.id, input: { context: { text: 'Hermes runs agents.' } } } });
    expect(task.status).toBe(201);
    expect((await api('POST', `/api/v1/tasks/${task.body.id}/execute`, { token: owner.token })).status).toBe(202);
    const results = await eventually(
      async () => {
        const res = await api('GET', `/api/v1/tasks/${task.body.id}/results`, { token: owner.token });
        expect(res.body.status).toMatch(/^(succeeded|failed)$/);
        return res.body;
      },
      { timeout: 30_000, interval: 100 },
    );
    expect(results).toMatchObject({ status: 'succeeded', exit_code: 0 });
    await api('GET', '/api/v1/tasks', { token: owner.token });
    await api('GET', `/api/v1/tasks/${task.body.id}`, { token: owner.token });

    const userSocket = await ready({ token: user.token });
    const id = await post(user.token, { intent: 'Statistics for this text', context: { text: 'The winner takes it all. The winner.' }, required_capabilities: [`${capability}-text`] });
    await ask(userSocket, 'subscribe', { contract_id: id });
    await api('POST', '/api/v1/mesh/bid', { apiKey: wasm.apiKey, body: { contract_id: id, price_cents: 1_500, eta_seconds: 30, confidence: 0.95 } });
    await api('POST', `/api/v1/contracts/${id}/close-bidding`, { token: user.token });
    const delivered = await waitForStatus(user.token, id, 'DELIVERED');
    expect(delivered.executions).toHaveLength(1);
    await waitForEvent('execution:progress', (p) => p.contract_id === id && p.phase === 'finished');
    const state = await api('GET', `/api/v1/contracts/${id}/state`, { token: user.token });
    expect(state.body.execution).toMatchObject({ outcome: 'ok', exit_code: 0, stdout_encoding: 'utf8', fuel_consumed: expect.any(Number) });
    await api('POST', `/api/v1/contracts/${id}/accept`, { token: user.token, body: { rating: 4 } });
    expectAllSnakeCase();
  }, 120_000);

  it('socket acks, refusals and gaps', async () => {
    const stranger = await registerUser(api, 'Eve');
    const socket = await ready({ token: stranger.token, last_event_id: 'not-an-event-id' });
    await waitForEvent('events:gap', (p) => p.last_event_id === 'not-an-event-id');
    expect(await ask(socket, 'subscribe', { contract_id: summariser.id })).toMatchObject({ error: { code: 'NOT_FOUND' } });
    open({ api_key: 'hk_nope' });
    await eventually(() => said.some((s) => s.from === 'socket connect_error'));
    expectAllSnakeCase();

    // Every kind of event the README lists reached a client and was walked.
    const kinds = new Set(events.map((e) => e.event));
    for (const kind of ['contract:new', 'contract:awarded', 'contract:cancelled', 'contract:closed', 'contract:status', 'bid:new', 'execution:progress', 'delivery:new', 'a2a:message', 'a2a:closed', 'ready', 'events:gap']) {
      expect(kinds, kind).toContain(kind);
    }
  });
});
