import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createApp } from '../../api/app';
import { OPERATIONS, openApiDocument, openApiPath } from '../../api/openapi';
import { eventually } from '../support/eventually';
import { checkedClient, documentedRoutes, responseChecker, routerRoutes } from '../support/openapi';
import { registerAgent, registerUser, startPlatform, uploadAgent, waitForContract, type Api, type Platform } from '../support/platform';
import { exampleAgent } from '../support/wasm';

// The OpenAPI document against the API itself: every route the Koa routers answer is described
// (and nothing else is), and the README's walk-throughs, done for real, answer what the
// document says — status, required headers and body, every response checked with ajv.
let platform: Platform;
let api: Api;
let violations: string[];
let check: ReturnType<typeof checkedClient>['check'];
beforeAll(async () => {
  platform = await startPlatform();
  ({ call: api, check, violations } = checkedClient(platform.api));
});
afterAll(async () => platform?.close());
// Each test reports its own mismatches.
beforeEach(() => {
  violations?.splice(0);
});

describe('the document', () => {
  it('describes exactly the routes the Koa routers answer', () => {
    const routes = routerRoutes(createApp(platform.deps));
    const documented = documentedRoutes();
    expect(routes.filter((r) => !documented.includes(r)), 'routes without an OpenAPI operation').toEqual([]);
    expect(documented.filter((r) => !routes.includes(r)), 'operations without a route').toEqual([]);
  });

  it('is served at /api/v1/openapi.json, OpenAPI 3.1 with both security schemes and the error envelope on every error status', async () => {
    const res = await api('GET', '/api/v1/openapi.json');
    expect(res.status).toBe(200);
    expect(res.body).toEqual(JSON.parse(JSON.stringify(openApiDocument())));
    expect(res.body.openapi).toBe('3.1.0');
    expect(res.body.components.securitySchemes).toMatchObject({
      bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
      agentApiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
    });
    for (const op of OPERATIONS) {
      const described = res.body.paths[openApiPath(op.path)][op.method];
      for (const [status, r] of Object.entries(described.responses as Record<string, any>)) {
        if (Number(status) >= 400 && op.path !== '/ready' && !op.path.includes('/docs/')) {
          expect(r.content['application/json'].schema, `${op.method} ${op.path} ${status}`).toEqual({ $ref: '#/components/schemas/Error' });
        }
        if (status === '429' || (status === '503' && op.path !== '/ready')) expect(r.headers['Retry-After'].required).toBe(true);
      }
    }
    const webhook = res.body.paths['/api/v1/webhooks/stripe'].post;
    expect(webhook.parameters).toContainEqual(expect.objectContaining({ name: 'Stripe-Signature', in: 'header', required: true }));
    const upload = res.body.paths['/api/v1/agents/upload'].post.requestBody.content['multipart/form-data'].schema;
    expect(upload.required).toContain('file');
  });

  it('serves a docs page whose renderer comes from this API, not a CDN', async () => {
    const page = await fetch(`${platform.base}/api/v1/docs`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await page.text();
    const urls = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(urls.length).toBeGreaterThan(2);
    for (const url of urls) {
      expect(url, 'only relative URLs').toMatch(/^\.\//);
      const asset = await fetch(new URL(url, `${platform.base}/api/v1/docs`));
      expect(asset.status, url).toBe(200);
      check('GET', new URL(url, `${platform.base}/api/v1/docs`).pathname, { status: asset.status, headers: asset.headers, body: null });
    }
    const bundle = await (await fetch(`${platform.base}/api/v1/docs/swagger-ui-bundle.js`)).text();
    expect(bundle).toContain('SwaggerUIBundle');
    // With a trailing slash the page's relative URLs would miss: it redirects to itself.
    const slashed = await fetch(`${platform.base}/api/v1/docs/`, { redirect: 'manual' });
    expect([slashed.status, slashed.headers.get('location')]).toEqual([301, '/api/v1/docs']);
    expect((await fetch(`${platform.base}/api/v1/docs/package.json`)).status).toBe(404);
    expect((await fetch(`${platform.base}/api/v1/docs/..%2Fpackage.json`)).status).toBe(404);
  });

  it('catches a response that does not match (the checker is not vacuous)', () => {
    const problems = responseChecker();
    const headers = new Headers({ 'content-type': 'application/json' });
    expect(problems('GET', '/health', { status: 200, headers, body: { status: 'ok' } })).toEqual([]);
    expect(problems('GET', '/health', { status: 200, headers, body: { status: 'ok', extra: 1 } })).not.toEqual([]);
    expect(problems('GET', '/health', { status: 418, headers, body: {} })).not.toEqual([]);
    expect(problems('GET', '/api/v1/nowhere', { status: 200, headers, body: {} })).not.toEqual([]);
    const bid = { id: randomUUID(), agent_id: randomUUID(), price_cents: 1, eta_seconds: 1, confidence: 1, message: null, status: 'active', revision: 1, created_at: new Date().toISOString(), updated_at: new Date().toISOString() };
    const score = { bid_id: randomUUID(), agent_id: randomUUID(), price_cents: 1, eta_seconds: 1, eligible: true, excluded_by: [], factors: null, score: null, rank: null };
    const problemsOfBid = (b: object) => problems('GET', `/api/v1/contracts/${randomUUID()}`, { status: 200, headers, body: { bids: [b] } }).join('\n');
    expect(problemsOfBid({ ...bid, score })).not.toMatch(/bids\/0/);
    expect(problemsOfBid({ ...bid, score: { ...score, bid_id: undefined, bidId: score.bid_id } })).toMatch(/bids\/0\/score/);
    const limited = new Headers({ 'content-type': 'application/json' });
    expect(problems('GET', '/api/v1/wallet', { status: 429, headers: limited, body: { error: { code: 'RATE_LIMITED', message: 'slow down' } } })).toEqual([
      'GET /api/v1/wallet → 429: required header Retry-After missing',
    ]);
  });
});

describe('the README walk-throughs answer as documented', () => {
  it('a contract from post to SETTLED, with the reads, refusals and retries on the way', async () => {
    expect((await api('GET', '/health')).status).toBe(200);
    expect((await api('GET', '/ready')).status).toBe(200);
    const user = await registerUser(api);
    expect((await api('POST', '/api/v1/auth/login', { body: { email: user.email, password: 'correct horse battery' } })).status).toBe(200);
    expect((await api('POST', '/api/v1/auth/login', { body: { email: user.email, password: 'wrong password!' } })).status).toBe(401);
    expect((await api('POST', '/api/v1/auth/register', { body: { email: user.email, password: 'correct horse battery', name: 'Twin' } })).status).toBe(409);
    const owner = await registerUser(api, 'Owner');
    const agent = await registerAgent(api, owner.token, { capabilities: ['pdf'] });
    const rival = await registerAgent(api, owner.token, { capabilities: ['pdf'], name: 'rival' });
    expect((await api('POST', `/api/v1/agents/${agent.id}/api-keys`, { token: owner.token })).status).toBe(201);

    expect((await api('GET', '/api/v1/preferences', { token: user.token })).status).toBe(200);
    const weights = { price: 4000, performance: 2000, speed: 2000, reputation: 2000 };
    expect((await api('PUT', '/api/v1/preferences', { token: user.token, body: { weights, default_filters: { min_confidence: 0.5 } } })).status).toBe(200);

    const key = randomUUID();
    const body = { intent: 'Summarise these 40 PDFs', reward_cents: 5_000, required_capabilities: ['pdf'], bidding_window_seconds: 300, context: { documents: 40 } };
    const created = await api('POST', '/api/v1/contracts', { token: user.token, body, headers: { 'Idempotency-Key': key } });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    expect((await api('POST', '/api/v1/contracts', { token: user.token, body, headers: { 'Idempotency-Key': key } })).status).toBe(201);
    expect((await api('POST', '/api/v1/contracts', { token: user.token, body: { ...body, reward_cents: 1 }, headers: { 'Idempotency-Key': key } })).status).toBe(422);

    expect((await api('GET', '/api/v1/mesh/contracts', { apiKey: agent.apiKey })).body.data).toContainEqual(expect.objectContaining({ id }));
    const bid = await api('POST', '/api/v1/mesh/bid', { apiKey: agent.apiKey, body: { contract_id: id, price_cents: 4_000, eta_seconds: 600, confidence: 0.9 } });
    expect(bid.status).toBe(201);
    expect((await api('POST', '/api/v1/mesh/bid', { apiKey: rival.apiKey, body: { contract_id: id, price_cents: 4_500, eta_seconds: 900, confidence: 0.4 } })).status).toBe(201);
    expect((await api('POST', '/api/v1/mesh/bid', { apiKey: agent.apiKey, body: { contract_id: id, price_cents: 3_900, eta_seconds: 600, confidence: 0.9, replace: true } })).status).toBe(200);
    expect((await api('POST', '/api/v1/mesh/bid', { apiKey: agent.apiKey, body: { contract_id: id, price_cents: 9_999, eta_seconds: 600, confidence: 0.9, replace: true } })).status).toBe(400);

    expect((await api('POST', `/api/v1/contracts/${id}/close-bidding`, { token: user.token })).status).toBe(200);
    const awarded = await waitForContract(api, user.token, id, 'IN_PROGRESS');
    expect(awarded.award.detail.ranking).toHaveLength(2);
    expect((await api('GET', `/api/v1/contracts/${id}/state`, { token: user.token })).status).toBe(200);
    expect((await api('POST', '/api/v1/mesh/bid', { apiKey: rival.apiKey, body: { contract_id: id, price_cents: 10, eta_seconds: 60, confidence: 0.9, replace: true } })).status).toBe(409);
    expect((await api('POST', '/api/v1/mesh/deliver', { apiKey: rival.apiKey, body: { contract_id: id, output: 'mine' } })).status).toBe(403);

    expect((await api('POST', '/api/v1/mesh/deliver', { apiKey: agent.apiKey, body: { contract_id: id, output: { summary: '40 PDFs, 3 themes' } } })).status).toBe(201);
    await waitForContract(api, user.token, id, 'DELIVERED');
    expect((await api('POST', `/api/v1/contracts/${id}/accept`, { token: user.token, body: { rating: 5, comment: 'great' } })).status).toBe(200);
    await waitForContract(api, user.token, id, 'SETTLED');
    expect((await api('GET', `/api/v1/contracts?limit=1`, { token: user.token })).body.data).toHaveLength(1);
    expect((await api('GET', `/api/v1/contracts?status=SETTLED`, { token: user.token })).status).toBe(200);

    // A manual award, then a cancel; a reject after a second delivery.
    const manual = await api('POST', '/api/v1/contracts', { token: user.token, body: { ...body, award_mode: 'manual' } });
    const manualBid = await api('POST', '/api/v1/mesh/bid', { apiKey: agent.apiKey, body: { contract_id: manual.body.id, price_cents: 0, eta_seconds: 60, confidence: 1 } });
    expect((await api('POST', `/api/v1/contracts/${manual.body.id}/award`, { token: user.token, body: { bid_id: randomUUID() } })).status).toBe(404);
    expect((await api('POST', `/api/v1/contracts/${manual.body.id}/award`, { token: user.token, body: { bid_id: manualBid.body.bid.id } })).status).toBe(200);
    await waitForContract(api, user.token, manual.body.id, 'IN_PROGRESS');
    expect((await api('POST', '/api/v1/mesh/deliver', { apiKey: agent.apiKey, body: { contract_id: manual.body.id, output: 'draft' } })).status).toBe(201);
    await waitForContract(api, user.token, manual.body.id, 'DELIVERED');
    expect((await api('POST', `/api/v1/contracts/${manual.body.id}/reject`, { token: user.token, body: { reason: 'not a summary' } })).status).toBe(200);
    const cancelled = await api('POST', '/api/v1/contracts', { token: user.token, body });
    expect((await api('POST', `/api/v1/contracts/${cancelled.body.id}/cancel`, { token: user.token, body: { reason: 'changed my mind' } })).status).toBe(200);
    expect((await api('POST', `/api/v1/contracts/${cancelled.body.id}/accept`, { token: user.token, body: { rating: 5 } })).status).toBe(409);

    // Refusals: the envelope, with the statuses the document promises.
    expect((await api('GET', '/api/v1/contracts', { token: 'nope' })).status).toBe(401);
    expect((await api('GET', `/api/v1/contracts/${randomUUID()}`, { token: owner.token })).status).toBe(404);
    expect((await api('GET', `/api/v1/contracts/${id}`, { token: owner.token })).status).toBe(404);
    expect((await api('GET', '/api/v1/contracts/not-a-uuid', { token: user.token })).status).toBe(400);
    expect((await api('POST', '/api/v1/contracts', { token: user.token, body: { intent: '', reward_cents: -1, surprise: true } })).status).toBe(400);
    expect((await api('POST', '/api/v1/contracts', { token: user.token, rawBody: '{"intent":' })).status).toBe(400);
    expect((await api('GET', '/api/v1/mesh/contracts', { apiKey: 'hk_wrong' })).status).toBe(401);
    expect((await api('GET', '/api/v1/agents?cursor=bogus')).status).toBe(400);

    // Money: payment methods and history, the agent owner's wallet, a withdrawal.
    expect((await api('POST', '/api/v1/payments/methods', { token: user.token, body: { payment_method: 'pm_card_visa' } })).status).toBe(201);
    expect((await api('GET', '/api/v1/payments/methods', { token: user.token })).status).toBe(200);
    expect((await api('GET', '/api/v1/payments/history', { token: user.token })).body.data.length).toBeGreaterThan(0);
    expect((await api('GET', '/api/v1/wallet', { token: owner.token })).body.balance_cents).toBeGreaterThan(0);
    expect((await api('GET', '/api/v1/wallet/transactions', { token: owner.token })).body.data.length).toBeGreaterThan(0);
    expect((await api('POST', '/api/v1/wallet/payout-account', { token: owner.token })).status).toBe(201);
    expect((await api('POST', '/api/v1/wallet/payout-account', { token: owner.token })).status).toBe(200);
    const withdrawal = await api('POST', '/api/v1/wallet/withdrawals', { token: owner.token, body: { amount_cents: 100 }, headers: { 'Idempotency-Key': `w-${randomUUID()}` } });
    expect(withdrawal.status).toBe(202);
    expect((await api('GET', '/api/v1/wallet/withdrawals', { token: owner.token })).body.data).toHaveLength(1);
    expect((await api('GET', `/api/v1/wallet/withdrawals/${withdrawal.body.id}`, { token: owner.token })).status).toBe(200);
    expect((await api('POST', '/api/v1/wallet/withdrawals', { token: owner.token, body: { amount_cents: 100 } })).status).toBe(400);

    // Stripe: a signed event (processed, then its duplicate) and a forged one.
    const payload = JSON.stringify({ id: `evt_${randomUUID().replaceAll('-', '')}`, object: 'event', type: 'customer.created', data: { object: { id: 'cus_1' } } });
    const signature = platform.deps.stripe.webhooks.generateTestHeaderString({ payload, secret: platform.config.STRIPE_WEBHOOK_SECRET });
    for (const expected of [{ received: true }, { received: true, duplicate: true }]) {
      const res = await api('POST', '/api/v1/webhooks/stripe', { rawBody: payload, headers: { 'Stripe-Signature': signature } });
      expect(res.body).toEqual(expected);
    }
    expect((await api('POST', '/api/v1/webhooks/stripe', { rawBody: payload, headers: { 'Stripe-Signature': 't=1,v1=00' } })).status).toBe(400);

    // Trust, reputation, the leaderboard.
    expect((await api('GET', `/api/v1/marketplace/agents/${agent.id}/trust-score`)).status).toBe(200);
    expect((await api('GET', `/api/v1/marketplace/agents/${agent.id}/reputation`)).status).toBe(200);
    expect((await api('GET', `/api/v1/marketplace/agents/${randomUUID()}/reputation`)).status).toBe(404);
    for (const metric of ['trust_score', 'total_earnings']) expect((await api('GET', `/api/v1/marketplace/leaderboard?metric=${metric}&limit=5`)).status).toBe(200);

    // Agent to agent.
    const talk = await api('POST', '/api/v1/a2a/conversations', { apiKey: agent.apiKey, body: { agent_id: rival.id, contract_id: id, subject: 'split the work?' } });
    expect(talk.status).toBe(201);
    expect((await api('POST', `/api/v1/a2a/conversations/${talk.body.id}/messages`, { apiKey: rival.apiKey, body: { type: 'answer', body: { yes: true } } })).status).toBe(201);
    expect((await api('GET', `/api/v1/a2a/conversations/${talk.body.id}/messages?limit=1`, { apiKey: agent.apiKey })).body.next_cursor).toBeNull();
    expect((await api('GET', '/api/v1/a2a/conversations', { apiKey: rival.apiKey })).body.data).toHaveLength(1);
    // A __proto__ key anywhere in the JSON is refused, and the answer says why (not "invalid JSON").
    const proto = await api('POST', `/api/v1/a2a/conversations/${talk.body.id}/messages`, { apiKey: rival.apiKey, rawBody: '{"body":{"x":{"__proto__":{"admin":true}}}}' });
    expect(proto.status).toBe(400);
    expect(proto.body.error).toMatchObject({ code: 'VALIDATION_ERROR', message: expect.stringContaining('__proto__'), details: [{ field: 'body' }] });
    expect((await api('POST', `/api/v1/a2a/conversations/${talk.body.id}/close`, { apiKey: agent.apiKey })).status).toBe(200);
    expect((await api('POST', `/api/v1/a2a/conversations/${talk.body.id}/messages`, { apiKey: rival.apiKey, body: { body: 'late' } })).status).toBe(409);

    expect(violations).toEqual([]);
  });

  it('a WASM agent: upload, discovery, a contract it runs in the sandbox, and a direct task', async () => {
    const dev = await registerUser(api, 'Dev');
    const user = await registerUser(api);
    const uploaded = check('POST', '/api/v1/agents/upload', await uploadAgent(platform.base, dev.token, exampleAgent('text-stats'), { name: 'text stats', capabilities: 'text,stats', price_cents: '1500' }));
    expect(uploaded.status).toBe(201);
    const agentId = uploaded.body.agent.id as string;
    const again = check('POST', '/api/v1/agents/upload', await uploadAgent(platform.base, dev.token, exampleAgent('text-stats'), { agent_id: agentId, version: '1.0.1' }));
    expect(again.status).toBe(200);
    expect(check('POST', '/api/v1/agents/upload', await uploadAgent(platform.base, dev.token, new Uint8Array([1, 2, 3]), { name: 'junk' })).status).toBe(400);

    expect((await api('GET', '/api/v1/agents/search?q=text%20stats')).body.data).toContainEqual(expect.objectContaining({ id: agentId }));
    expect((await api('GET', '/api/v1/agents?capability=stats&limit=1')).status).toBe(200);
    expect((await api('GET', `/api/v1/agents/${agentId}`)).body.binary).not.toBeNull();
    expect((await api('GET', `/api/v1/agents/${agentId}/binaries`)).body.data).toHaveLength(1);

    const contract = await api('POST', '/api/v1/contracts', {
      token: user.token,
      body: { intent: 'Word statistics', reward_cents: 2_000, required_capabilities: ['text'], bidding_window_seconds: 300, context: { text: 'The winner takes it all. The winner agents bid.' } },
    });
    expect((await api('POST', '/api/v1/mesh/bid', { apiKey: uploaded.body.api_key, body: { contract_id: contract.body.id, price_cents: 1_500, eta_seconds: 30, confidence: 0.95 } })).status).toBe(201);
    expect((await api('POST', `/api/v1/contracts/${contract.body.id}/close-bidding`, { token: user.token })).status).toBe(200);
    const delivered = await waitForContract(api, user.token, contract.body.id, 'DELIVERED');
    expect(delivered.executions).toContainEqual(expect.objectContaining({ outcome: 'ok', exit_code: 0 }));
    expect((await api('GET', `/api/v1/contracts/${contract.body.id}/state`, { token: user.token })).body.execution).toMatchObject({ outcome: 'ok' });
    expect((await api('POST', `/api/v1/contracts/${contract.body.id}/accept`, { token: user.token, body: { rating: 4 } })).status).toBe(200);

    const task = await api('POST', '/api/v1/tasks', { token: user.token, body: { agent_id: agentId, input: { context: { text: 'to be or not to be' } } } });
    expect(task.status).toBe(201);
    expect((await api('POST', `/api/v1/tasks/${task.body.id}/execute`, { token: user.token })).status).toBe(202);
    expect((await api('POST', `/api/v1/tasks/${task.body.id}/execute`, { token: user.token })).status).toBe(409);
    await waitForTask(user.token, task.body.id);
    expect((await api('GET', `/api/v1/tasks/${task.body.id}`, { token: user.token })).body.status).toBe('succeeded');
    expect((await api('GET', '/api/v1/tasks', { token: user.token })).body.data).toHaveLength(1);
    expect((await api('POST', '/api/v1/tasks', { token: user.token, body: { agent_id: randomUUID(), input: 1 } })).status).toBe(404);

    expect(violations).toEqual([]);
  });
});

async function waitForTask(token: string, id: string) {
  return eventually(async () => {
    const res = await api('GET', `/api/v1/tasks/${id}/results`, { token });
    if (res.body.status !== 'succeeded') throw new Error(`task ${id} is ${res.body.status}`);
    return res.body;
  });
}
