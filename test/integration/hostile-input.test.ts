import { WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TERMINAL_STATUSES } from '../../domain/statuses';
import { deliver, submitBid } from '../../workflows/contract-messages';
import { eventually } from '../support/eventually';
import { postContract, registerAgent, registerUser, startPlatform, waitForContract, type ApiResponse, type Platform } from '../support/platform';
import { fixture } from '../support/wasm';

// Input a hostile client sends: NUL bytes, lone surrogates, overlong strings, deep JSON, odd
// numbers, bad cursors, truncated multipart. None of it may get a 5xx, freeze a contract, or
// leave a 201 that cannot be read.

const NUL = 'a\u0000b';
const SURROGATE = 'a\ud800b';
const DEEP = 10_000;

let platform: Platform;
let user: { id: string; token: string };
let agent: { id: string; apiKey: string };
let other: { id: string; apiKey: string };
const createdContracts = new Set<string>();

beforeAll(async () => {
  platform = await startPlatform();
  user = await registerUser(platform.api, 'Hostile');
  agent = await registerAgent(platform.api, user.token, { capabilities: ['pdf'] });
  other = await registerAgent(platform.api, user.token, { name: 'other', capabilities: ['pdf'] });
});
afterAll(async () => platform?.close());

/** Raw request: the body is sent as given, so placeholders can stand for what JSON.stringify cannot write. */
async function raw(method: string, path: string, opts: { token?: string; apiKey?: string; body?: string; type?: string } = {}): Promise<ApiResponse> {
  const headers: Record<string, string> = {};
  if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
  if (opts.apiKey) headers['X-API-Key'] = opts.apiKey;
  if (opts.body !== undefined) headers['Content-Type'] = opts.type ?? 'application/json';
  const res = await fetch(`${platform.base}${path}`, { method, headers, body: opts.body });
  const text = await res.text();
  let body: any = text;
  try {
    body = JSON.parse(text);
  } catch {
    // left as text: the assertions below then fail on the envelope
  }
  return { status: res.status, body, headers: res.headers };
}

const deepJson = (n: number) => '['.repeat(n) + ']'.repeat(n);

function expectRefused(res: ApiResponse, status: number, field?: string) {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.body.error.code).toBeTypeOf('string');
  if (field) expect(res.body.error.details?.map((d: { field?: string }) => d.field)).toContain(field);
}

async function track(res: ApiResponse): Promise<ApiResponse> {
  if (res.status === 201 && typeof res.body?.id === 'string' && res.body.workflow_id) createdContracts.add(res.body.id);
  return res;
}

describe('the text rule at the boundary', () => {
  it('refuses NUL, lone surrogates and deep JSON in a contract, naming the field, and stores nothing', async () => {
    const { api } = platform;
    const before = (await api('GET', '/api/v1/contracts?limit=100', { token: user.token })).body.data.length;
    const post = (body: unknown) => api('POST', '/api/v1/contracts', { token: user.token, body }).then(track);
    const base = { intent: 'Summarise', reward_cents: 100 };
    expectRefused(await post({ ...base, intent: NUL }), 400, 'intent');
    expectRefused(await post({ ...base, intent: SURROGATE }), 400, 'intent');
    expectRefused(await post({ ...base, context: { [NUL]: 1 } }), 400, 'context.a\\u0000b');
    expectRefused(await post({ ...base, context: { docs: [{ title: NUL }] } }), 400, 'context.docs.0.title');
    expectRefused(await post({ ...base, context: { text: SURROGATE } }), 400, 'context.text');
    const deep = await raw('POST', '/api/v1/contracts', { token: user.token, body: `{"intent":"x","reward_cents":1,"context":{"d":${deepJson(DEEP)}}}` });
    expectRefused(deep, 400);
    expect(deep.body.error.message).toMatch(/nest at most/);
    const after = (await api('GET', '/api/v1/contracts?limit=100', { token: user.token })).body.data.length;
    expect(after).toBe(before);
  });

  it('refuses the same in every other place that reaches Postgres', async () => {
    const { api } = platform;
    expectRefused(await api('POST', '/api/v1/auth/register', { body: { email: 'nul@example.com', password: 'correct horse battery', name: NUL } }), 400, 'name');
    expectRefused(await api('POST', '/api/v1/agents', { token: user.token, body: { name: NUL } }), 400, 'name');
    expectRefused(await api('POST', '/api/v1/agents', { token: user.token, body: { name: 'x', description: NUL } }), 400, 'description');
    expectRefused(await api('POST', '/api/v1/agents', { token: user.token, body: { name: 'x', capabilities: ['pdf', NUL] } }), 400, 'capabilities.1');
    expectRefused(await api('POST', '/api/v1/tasks', { token: user.token, body: { agent_id: agent.id, input: { text: NUL } } }), 400, 'input.text');
    expectRefused(await api('GET', '/api/v1/agents/search?q=%00'), 400, 'q');
    // (An invalid UTF-8 query decodes to U+FFFD, which is harmless text; in a path it is a 400.)
    expectRefused(await api('GET', '/api/v1/contracts/%ED%A0%80', { token: user.token }), 400, 'path');
    expectRefused(await api('GET', '/api/v1/contracts/%00', { token: user.token }), 400, 'path');
    expectRefused(await api('POST', '/api/v1/a2a/conversations', { apiKey: agent.apiKey, body: { agent_id: other.id, subject: NUL } }), 400, 'subject');
    const conversation = await api('POST', '/api/v1/a2a/conversations', { apiKey: agent.apiKey, body: { agent_id: other.id } });
    expect(conversation.status).toBe(201);
    const messages = `/api/v1/a2a/conversations/${conversation.body.id}/messages`;
    expectRefused(await api('POST', messages, { apiKey: agent.apiKey, body: { body: { text: NUL } } }), 400, 'body.text');
    expectRefused(await api('POST', messages, { apiKey: agent.apiKey, body: { body: SURROGATE } }), 400, 'body');
    expectRefused(await raw('POST', messages, { apiKey: agent.apiKey, body: `{"body":${deepJson(DEEP)}}` }), 400);
    expect((await api('POST', messages, { apiKey: agent.apiKey, body: { body: 'still works' } })).status).toBe(201);
  });

  it('answers a truncated multipart upload, bad cursors, unknown methods and media types in the envelope', async () => {
    const { api } = platform;
    const truncated = await raw('POST', '/api/v1/agents/upload', {
      token: user.token,
      type: 'multipart/form-data; boundary=XyZ',
      body: '--XyZ\r\nContent-Disposition: form-data; name="name"\r\n\r\nhalf an agen',
    });
    expectRefused(truncated, 400, 'body');
    const nulField = new FormData();
    nulField.append('name', NUL);
    nulField.append('file', new Blob([fixture('echo')]), 'a.wasm');
    const res = await fetch(`${platform.base}/api/v1/agents/upload`, { method: 'POST', headers: { Authorization: `Bearer ${user.token}` }, body: nulField });
    expectRefused({ status: res.status, body: await res.json(), headers: res.headers }, 400, 'name');
    // A JSON-array field whose escapes spell a NUL only once parsed.
    const escaped = new FormData();
    escaped.append('name', 'escaped');
    escaped.append('capabilities', '["pdf\\u0000"]');
    escaped.append('file', new Blob([fixture('echo')]), 'a.wasm');
    const esc = await fetch(`${platform.base}/api/v1/agents/upload`, { method: 'POST', headers: { Authorization: `Bearer ${user.token}` }, body: escaped });
    expectRefused({ status: esc.status, body: await esc.json(), headers: esc.headers }, 400, 'capabilities.0');
    expectRefused(await api('POST', '/api/v1/tasks', { token: user.token, body: { agent_id: agent.id, input: {}, timeout_seconds: 3_000_000_000 } }), 400, 'timeout_seconds');

    const cursors = ['1', '-271821-04-20T00:00:00Z', '+275760-09-13T00:00:00.000Z', '2026-02-31T00:00:00.000Z', '0000-01-01T00:00:00.000Z'].map((at) =>
      Buffer.from(JSON.stringify([at, '00000000-0000-4000-8000-000000000000'])).toString('base64url'),
    );
    cursors.push('not-base64-json', Buffer.from('{"a":1}').toString('base64url'));
    const conversation = await api('POST', '/api/v1/a2a/conversations', { apiKey: agent.apiKey, body: { agent_id: other.id } });
    const lists: Array<[string, { token?: string; apiKey?: string }]> = [
      ['/api/v1/contracts', { token: user.token }],
      ['/api/v1/agents', {}],
      ['/api/v1/wallet/transactions', { token: user.token }],
      [`/api/v1/a2a/conversations/${conversation.body.id}/messages`, { apiKey: agent.apiKey }],
    ];
    for (const [path, auth] of lists) {
      for (const cursor of cursors) {
        const r = await api('GET', `${path}?cursor=${encodeURIComponent(cursor)}`, auth);
        expectRefused(r, 400, 'cursor');
        expect(r.body.error.code).toBe('INVALID_CURSOR');
      }
    }

    const del = await raw('DELETE', '/api/v1/contracts', { token: user.token });
    expectRefused(del, 405);
    expect(del.body.error.code).toBe('METHOD_NOT_ALLOWED');
    expect(del.headers.get('allow')).toContain('POST');
    const text = await raw('POST', '/api/v1/contracts', { token: user.token, type: 'text/plain', body: 'intent=hi' });
    expectRefused(text, 415);
    expect(text.body.error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    expectRefused(await raw('POST', '/api/v1/contracts', { token: user.token, body: '{"intent":' }), 400, 'body');
  });
});

describe('no poison pills in the contract workflow', () => {
  it('refuses a bid and a delivery Postgres cannot store, and the contract still settles', async () => {
    const { api, deps } = platform;
    const id = await postContract(api, user.token, { required_capabilities: ['pdf'], reward_cents: 2_000 });
    createdContracts.add(id);
    // Through the API: a 400 naming the field, at once.
    expectRefused(await api('POST', '/api/v1/mesh/bid', { apiKey: agent.apiKey, body: { contract_id: id, price_cents: 1_000, eta_seconds: 60, confidence: 0.9, message: NUL } }), 400, 'message');
    // Past the API (as from any other client of the workflow): Postgres refuses the write, the
    // sender is told, and the bid is taken back.
    const handle = deps.temporal.workflow.getHandle(`contract-${id}`);
    const refusedBid = await handle
      .executeUpdate(submitBid, { args: [{ agentId: agent.id, priceCents: 1_000, etaSeconds: 60, confidence: 0.9, message: NUL, replace: false }] })
      .catch((e: unknown) => e);
    expect(refusedBid).toBeInstanceOf(WorkflowUpdateFailedError);
    expect(((refusedBid as WorkflowUpdateFailedError).cause as ApplicationFailure).type).toBe('VALIDATION_ERROR');

    const bid = await api('POST', '/api/v1/mesh/bid', { apiKey: agent.apiKey, body: { contract_id: id, price_cents: 1_000, eta_seconds: 60, confidence: 0.9 } });
    expect(bid.status, JSON.stringify(bid.body)).toBe(201);
    expect((await api('POST', `/api/v1/contracts/${id}/close-bidding`, { token: user.token })).status).toBe(200);
    await waitForContract(api, user.token, id, 'IN_PROGRESS');

    expectRefused(await api('POST', '/api/v1/mesh/deliver', { apiKey: agent.apiKey, body: { contract_id: id, output: { summary: NUL } } }), 400, 'output.summary');
    const refusedDelivery = await handle.executeUpdate(deliver, { args: [{ agentId: agent.id, output: { summary: NUL } }] }).catch((e: unknown) => e);
    expect(((refusedDelivery as WorkflowUpdateFailedError).cause as ApplicationFailure).type).toBe('VALIDATION_ERROR');
    expect((await api('GET', `/api/v1/contracts/${id}`, { token: user.token })).body.status).toBe('IN_PROGRESS');

    const delivered = await api('POST', '/api/v1/mesh/deliver', { apiKey: agent.apiKey, body: { contract_id: id, output: { summary: 'three themes' } } });
    expect(delivered.status, JSON.stringify(delivered.body)).toBe(201);
    await waitForContract(api, user.token, id, 'DELIVERED');
    expectRefused(await api('POST', `/api/v1/contracts/${id}/accept`, { token: user.token, body: { rating: 5, comment: NUL } }), 400, 'comment');
    expect((await api('POST', `/api/v1/contracts/${id}/accept`, { token: user.token, body: { rating: 5 } })).status).toBe(200);
    const settled = await waitForContract(api, user.token, id, 'SETTLED');
    expect(settled.deliveries).toHaveLength(1);
    expect(settled.bids).toHaveLength(1);
  });
});

// Every write route, every field, every class of hostile value: never a 5xx, always the envelope.
describe('fuzz over the write routes', () => {
  const HOSTILE: Record<string, string> = {
    nul: JSON.stringify(NUL),
    surrogate: JSON.stringify(SURROGATE),
    nulKeyObject: JSON.stringify({ [NUL]: 1 }),
    overlong: JSON.stringify('x'.repeat(200_000)),
    deep: deepJson(DEEP),
    wideObject: JSON.stringify(Object.fromEntries(Array.from({ length: 5_000 }, (_, i) => [`k${i}`, i]))),
    huge: '1e400',
    negative: '-1',
    fraction: '0.5',
    unsafeInt: '9007199254740993',
    negZero: '-0',
    nullValue: 'null',
    boolValue: 'true',
    emptyArray: '[]',
    operatorObject: '{"$ne":null}',
  };

  it('answers every case below 500 with the error envelope, and every contract it made still ends', async () => {
    const { api } = platform;
    const open = await postContract(api, user.token, { required_capabilities: ['pdf'], reward_cents: 3_000 });
    createdContracts.add(open);
    const conversation = (await api('POST', '/api/v1/a2a/conversations', { apiKey: agent.apiKey, body: { agent_id: other.id } })).body.id;
    const routes: Array<{ path: string; method?: string; token?: string; apiKey?: string; body: Record<string, unknown> }> = [
      { path: '/api/v1/auth/register', body: { email: 'fuzz@example.com', password: 'correct horse battery', name: 'Fuzz' } },
      { path: '/api/v1/auth/login', body: { email: 'fuzz@example.com', password: 'correct horse battery' } },
      { path: '/api/v1/agents', token: user.token, body: { name: 'fuzz', description: 'd', capabilities: ['pdf'], price_cents: 1 } },
      { path: '/api/v1/contracts', token: user.token, body: { intent: 'fuzz', context: { a: 1 }, required_capabilities: ['pdf'], reward_cents: 10, filters: { min_confidence: 0.1 } } },
      { path: '/api/v1/preferences', method: 'PUT', token: user.token, body: { weights: { price: 2500, performance: 2500, speed: 2500, reputation: 2500 }, default_filters: {} } },
      { path: '/api/v1/mesh/bid', apiKey: other.apiKey, body: { contract_id: open, price_cents: 100, eta_seconds: 60, confidence: 0.5, message: 'm' } },
      { path: '/api/v1/mesh/deliver', apiKey: other.apiKey, body: { contract_id: open, output: { a: 1 } } },
      { path: `/api/v1/contracts/${open}/award`, token: user.token, body: { bid_id: open } },
      { path: `/api/v1/contracts/${open}/accept`, token: user.token, body: { rating: 5, comment: 'c' } },
      { path: `/api/v1/contracts/${open}/reject`, token: user.token, body: { reason: 'r' } },
      { path: `/api/v1/contracts/${open}/cancel`, token: user.token, body: { reason: 'r' } },
      { path: '/api/v1/tasks', token: user.token, body: { agent_id: agent.id, input: { a: 1 }, timeout_seconds: 5 } },
      { path: '/api/v1/payments/methods', token: user.token, body: { payment_method: 'pm_card_visa' } },
      { path: '/api/v1/a2a/conversations', apiKey: agent.apiKey, body: { agent_id: other.id, contract_id: open, subject: 's' } },
      { path: `/api/v1/a2a/conversations/${conversation}/messages`, apiKey: agent.apiKey, body: { type: 'text', body: { a: 1 } } },
    ];
    const failures: string[] = [];
    let cases = 0;
    for (const route of routes) {
      const fields = [...Object.keys(route.body), '__extra__'];
      for (const field of fields) {
        for (const [name, value] of Object.entries(HOSTILE)) {
          const body = JSON.stringify({ ...route.body, [field]: '__HOSTILE__' }).replace('"__HOSTILE__"', value);
          const res = await raw(route.method ?? 'POST', route.path, { token: route.token, apiKey: route.apiKey, body }).then(track);
          cases++;
          const enveloped = res.status < 400 || typeof res.body?.error?.code === 'string';
          if (res.status >= 500 || !enveloped) failures.push(`${route.path} ${field}=${name}: ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`);
        }
      }
    }
    expect(failures, failures.join('\n')).toEqual([]);
    expect(cases).toBeGreaterThan(500);

    // Whatever was created ends: open contracts are cancelled, and each reaches a terminal status.
    for (const id of createdContracts) {
      const c = (await api('GET', `/api/v1/contracts/${id}`, { token: user.token })).body;
      expect(c.id, `contract ${id} answered 201 and must be readable`).toBe(id);
      if (TERMINAL_STATUSES.includes(c.status)) continue;
      if (c.status === 'DELIVERED') await api('POST', `/api/v1/contracts/${id}/accept`, { token: user.token, body: { rating: 3 } });
      else await api('POST', `/api/v1/contracts/${id}/cancel`, { token: user.token, body: {} });
      await eventually(async () => expect(TERMINAL_STATUSES).toContain((await api('GET', `/api/v1/contracts/${id}`, { token: user.token })).body.status), {
        timeout: 30_000,
      });
    }
  });
});
