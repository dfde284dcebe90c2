import { randomUUID } from 'node:crypto';
import { io as connect, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/eventually';
import { postContract, registerAgent, registerUser, startApiInstance, startPlatform, type Platform } from '../support/platform';

// One capability rule — an agent must hold every required capability — for what it hears
// (contract:new over Socket.IO), what it lists (GET /mesh/contracts) and what it may bid on.
// The two agents sit on different API instances, so the rule holds whichever instance relays.
let platform: Platform;
let second: Awaited<ReturnType<typeof startApiInstance>>;
const sockets: Socket[] = [];
beforeAll(async () => {
  platform = await startPlatform();
  second = await startApiInstance(platform.deps);
});
afterAll(async () => {
  for (const s of sockets) s.close();
  await second?.close();
  await platform?.close();
});

/** An agent connected over Socket.IO, recording the contract:new events it hears. */
async function listeningAgent(base: string, ownerToken: string, capabilities: string[]) {
  const agent = await registerAgent(platform.api, ownerToken, { capabilities });
  const socket = connect(base, { auth: { api_key: agent.apiKey }, transports: ['websocket'], reconnection: false, forceNew: true });
  sockets.push(socket);
  const heard: string[] = [];
  socket.on('contract:new', (e: { contract_id: string }) => heard.push(e.contract_id));
  await new Promise<void>((resolve, reject) => {
    socket.once('ready', () => resolve());
    socket.once('connect_error', reject);
  });
  return { ...agent, heard };
}

describe('an agent must hold every required capability', () => {
  it('to hear of a contract, to list it and to bid on it', async () => {
    const { api } = platform;
    const [a, b] = [`a-${randomUUID()}`, `b-${randomUUID()}`];
    const user = await registerUser(api);
    const owner = await registerUser(api, 'Owner');
    const both = await listeningAgent(second.base, owner.token, [a, b]);
    const onlyA = await listeningAgent(platform.base, owner.token, [a]);

    // Contracts other test files post with no requirement reach every agent: count only ours.
    const ours = (heard: string[]) => heard.filter((id) => id === needsBoth || id === needsA);
    let needsA = '';
    const needsBoth = await postContract(api, user.token, { required_capabilities: [a, b] });
    await eventually(() => expect(ours(both.heard)).toEqual([needsBoth]));
    // Events are relayed in order: once onlyA hears of a later contract needing just `a`, it
    // would have heard of the first one had it been sent.
    needsA = await postContract(api, user.token, { required_capabilities: [a] });
    await eventually(() => expect(ours(onlyA.heard)).toEqual([needsA]));
    await eventually(() => expect(ours(both.heard)).toEqual([needsBoth, needsA]));

    const listed = async (apiKey: string) => (await api('GET', '/api/v1/mesh/contracts?limit=100', { apiKey })).body.data.map((c: { id: string }) => c.id);
    expect(await listed(both.apiKey)).toEqual(expect.arrayContaining([needsBoth, needsA]));
    expect(await listed(onlyA.apiKey)).toContain(needsA);
    expect(await listed(onlyA.apiKey)).not.toContain(needsBoth);

    const bid = (apiKey: string) => api('POST', '/api/v1/mesh/bid', { apiKey, body: { contract_id: needsBoth, price_cents: 1_000, eta_seconds: 60, confidence: 0.9 } });
    const refused = await bid(onlyA.apiKey);
    expect(refused.status).toBe(403);
    expect(refused.body.error).toMatchObject({ code: 'CAPABILITY_MISMATCH', message: `agent lacks required capabilities: ${b}` });
    expect((await bid(both.apiKey)).status).toBe(201);
  });
});
