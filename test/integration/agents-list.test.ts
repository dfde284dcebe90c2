import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { agentJson } from '../../api/serializers';
import { presenceKey } from '../../lib/events';
import { registerAgent, registerUser, startPlatform, uploadAgent, type Platform } from '../support/platform';
import { fixture, withNonce } from '../support/wasm';

// GET /agents is each agent's JSON as Postgres keeps it in its row (list_json, rewritten by a
// trigger on every insert and update) joined and sent on as text (api/routes/agents.ts);
// agentJson (api/serializers.ts) stays the definition of an agent's JSON. The two must agree,
// value for value, across pages, for agents registered, updated and uploaded, with and without a
// binary, rated or not, online or not, and with text that looks like the JSON around it.
let platform: Platform;
beforeAll(async () => {
  platform = await startPlatform();
});
afterAll(async () => platform?.close());

it('answers what agentJson makes of the rows, page by page, with the online flags from Redis', async () => {
  const { api, deps } = platform;
  const owner = await registerUser(api, 'Owner');
  // A capability of this test's own: other files share the database and add agents meanwhile.
  const cap = `list-${randomUUID().slice(0, 8)}`;
  const plain = await registerAgent(api, owner.token, { name: 'plain', capabilities: [cap] });
  const tricky = await registerAgent(api, owner.token, {
    name: 'quotes "and" \\ back\\slashes',
    description: 'looks like its own JSON: "online" : false, "x" : 1 — ✓ 𝄞',
    capabilities: [cap, 'pdf'],
    price_cents: 1_250,
  });
  const uploaded = await uploadAgent(platform.base, owner.token, withNonce(fixture('echo')), { name: 'with binary', capabilities: cap });
  expect(uploaded.status).toBe(201);
  await deps.knex('agents').where({ id: plain.id }).update({ rating: 4.5, tasks_completed: 7, last_seen_at: new Date() });
  // Online: the tricky one (its description's look-alike text must stay as it is) and the uploaded one.
  for (const id of [tricky.id, uploaded.body.agent.id]) await deps.redis.set(presenceKey(id), '1', 'EX', 60);

  const first = await api('GET', `/api/v1/agents?capability=${cap}&limit=2`);
  const second = await api('GET', `/api/v1/agents?capability=${cap}&limit=2&cursor=${first.body.next_cursor}`);
  expect([first.status, second.status]).toEqual([200, 200]);
  expect(first.body.data).toHaveLength(2);
  expect(second.body.next_cursor).toBeNull();

  const rows = await deps.models.Agent.query().whereRaw('capabilities @> ARRAY[?]::text[]', [cap]).whereNull('deleted_at').orderBy([
    { column: 'created_at', order: 'desc' },
    { column: 'id', order: 'desc' },
  ]);
  const live = await deps.redis.mget(rows.map((a) => presenceKey(a.id)));
  const expected = JSON.parse(JSON.stringify(rows.map((a, i) => agentJson(a, live[i] !== null))));
  expect([...first.body.data, ...second.body.data]).toStrictEqual(expected);
  const byId = new Map(expected.map((a: { id: string }) => [a.id, a]));
  expect(byId.get(tricky.id)).toMatchObject({ online: true, description: 'looks like its own JSON: "online" : false, "x" : 1 — ✓ 𝄞' });
  expect(byId.get(plain.id)).toMatchObject({ online: false, rating: 4.5, binary: null });
  expect(byId.get(uploaded.body.agent.id)).toMatchObject({ online: true, binary: { sha256: uploaded.body.binary.sha256 } });

  // A filter that matches nothing is an empty page.
  expect((await api('GET', `/api/v1/agents?capability=${cap}-none`)).body).toStrictEqual({ data: [], next_cursor: null });
});
