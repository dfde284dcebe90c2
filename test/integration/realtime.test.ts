import { io as connect, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postContract, registerAgent, registerUser, startApiInstance, startPlatform, waitForContract, type Platform } from '../support/platform';

// Socket.IO against two API instances sharing Redis and Postgres, with a real worker emitting
// the events: handshake auth, relay across instances, ownership of subscriptions, resume.
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

function open(base: string, auth: Record<string, unknown>): Socket {
  const socket = connect(base, { auth, transports: ['websocket'], reconnection: false, forceNew: true });
  sockets.push(socket);
  return socket;
}

async function ready(socket: Socket): Promise<Socket> {
  await new Promise<void>((resolve, reject) => {
    socket.once('ready', () => resolve());
    socket.once('connect_error', reject);
  });
  return socket;
}

/** Collects events of the given types so a test can wait for the one it expects. */
function recorder(socket: Socket, types: string[]) {
  const seen: Record<string, any>[] = [];
  for (const t of types) socket.on(t, (e: Record<string, any>) => seen.push(e));
  return {
    seen,
    async waitFor(pred: (e: Record<string, any>) => boolean, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const hit = seen.find(pred);
        if (hit) return hit;
        await new Promise((r) => setTimeout(r, 25));
      }
      throw new Error(`no matching event; saw ${JSON.stringify(seen.map((e) => [e.type, e.status ?? '']))}`);
    },
  };
}

const subscribe = (socket: Socket, contractId: string) =>
  new Promise<Record<string, any>>((resolve) => socket.emit('subscribe', { contract_id: contractId }, resolve));

describe('the handshake', () => {
  it('refuses a bad API key, a bad token and no credentials', async () => {
    for (const auth of [{ apiKey: 'hk_nope' }, { token: 'not.a.jwt' }, {}]) {
      const socket = open(platform.base, auth);
      const err = await new Promise<Error & { data?: { code: string } }>((resolve) => socket.once('connect_error', resolve));
      expect(err.message).toBe('UNAUTHENTICATED');
      expect(err.data?.code).toBe('UNAUTHENTICATED');
    }
  });
});

describe('events across two API instances', () => {
  it('a worker’s events reach an agent on one instance and the owner on the other', async () => {
    const { api } = platform;
    const user = await registerUser(api);
    const owner = await registerUser(api, 'Owner');
    const capability = `cap-${Date.now()}`;
    const agent = await registerAgent(api, owner.token, { capabilities: [capability] });
    const agentSocket = await ready(open(platform.base, { apiKey: agent.apiKey }));
    const agentEvents = recorder(agentSocket, ['contract:new', 'contract:awarded', 'contract:closed']);

    const id = await postContract(api, user.token, { required_capabilities: [capability] });
    expect(await agentEvents.waitFor((e) => e.type === 'contract:new' && e.contract_id === id)).toMatchObject({ required_capabilities: [capability], event_id: expect.stringMatching(/^\d+-\d+$/) });

    await waitForContract(api, user.token, id, 'BIDDING');
    const userSocket = await ready(open(second.base, { token: user.token }));
    const userEvents = recorder(userSocket, ['contract:status', 'bid:new', 'delivery:new']);
    expect(await subscribe(userSocket, id)).toEqual({ ok: true, contract_id: id });

    await api('POST', '/api/v1/mesh/bid', { apiKey: agent.apiKey, body: { contract_id: id, price_cents: 1_000, eta_seconds: 60, confidence: 0.9 } });
    expect(await userEvents.waitFor((e) => e.type === 'bid:new')).toMatchObject({ contract_id: id, agent_id: agent.id, price_cents: 1_000 });
    await api('POST', `/api/v1/contracts/${id}/close-bidding`, { token: user.token });
    await userEvents.waitFor((e) => e.type === 'contract:status' && e.status === 'IN_PROGRESS');
    expect(await agentEvents.waitFor((e) => e.type === 'contract:awarded')).toMatchObject({ contract_id: id, price_cents: 1_000 });

    await api('POST', '/api/v1/mesh/deliver', { apiKey: agent.apiKey, body: { contract_id: id, output: { ok: true } } });
    expect(await userEvents.waitFor((e) => e.type === 'delivery:new')).toMatchObject({ contract_id: id, output: { ok: true } });
    await api('POST', `/api/v1/contracts/${id}/accept`, { token: user.token, body: { rating: 5 } });
    await userEvents.waitFor((e) => e.type === 'contract:status' && e.status === 'SETTLED');
    expect(await agentEvents.waitFor((e) => e.type === 'contract:closed')).toMatchObject({ contract_id: id, status: 'SETTLED' });

    // Exactly once each, though two instances relay: the consumer group hands each event to one.
    const bids = userEvents.seen.filter((e) => e.type === 'bid:new');
    expect(bids).toHaveLength(1);
  });

  it('refuses a subscription to someone else’s contract, and agents cannot subscribe', async () => {
    const { api } = platform;
    const owner = await registerUser(api);
    const stranger = await registerUser(api, 'Eve');
    const id = await postContract(api, owner.token);
    await waitForContract(api, owner.token, id, 'BIDDING');
    const socket = await ready(open(second.base, { token: stranger.token }));
    expect(await subscribe(socket, id)).toEqual({ error: { code: 'NOT_FOUND', message: 'contract not found' } });
    expect(await subscribe(socket, 'not-a-uuid')).toMatchObject({ error: { code: 'NOT_FOUND' } });
    const agent = await registerAgent(api, owner.token);
    const agentSocket = await ready(open(platform.base, { apiKey: agent.apiKey }));
    expect(await subscribe(agentSocket, id)).toMatchObject({ error: { code: 'NOT_FOUND' } });
  });
});

describe('resuming after a disconnect', () => {
  it('a client that reconnects with its last event id gets what it missed, on the other instance', async () => {
    const { api } = platform;
    const user = await registerUser(api);
    const owner = await registerUser(api, 'Owner');
    const a = await registerAgent(api, owner.token, { name: 'a' });
    const b = await registerAgent(api, owner.token, { name: 'b' });
    const id = await postContract(api, user.token);
    await waitForContract(api, user.token, id, 'BIDDING');

    const first = await ready(open(platform.base, { token: user.token }));
    const before = recorder(first, ['bid:new']);
    await subscribe(first, id);
    await api('POST', '/api/v1/mesh/bid', { apiKey: a.apiKey, body: { contract_id: id, price_cents: 1_000, eta_seconds: 60, confidence: 0.9 } });
    const last = await before.waitFor((e) => e.agent_id === a.id);
    first.close();

    // While the user is away: another bid, and bidding closes.
    await api('POST', '/api/v1/mesh/bid', { apiKey: b.apiKey, body: { contract_id: id, price_cents: 900, eta_seconds: 60, confidence: 0.9 } });
    await api('POST', `/api/v1/contracts/${id}/close-bidding`, { token: user.token });
    await waitForContract(api, user.token, id, 'IN_PROGRESS');

    const again = open(second.base, { token: user.token, lastEventId: last.event_id, contracts: [id] });
    const after = recorder(again, ['bid:new', 'contract:status']);
    await ready(again);
    await after.waitFor((e) => e.type === 'contract:status' && e.status === 'IN_PROGRESS');
    const missed = after.seen.filter((e) => e.contract_id === id);
    expect(missed[0]).toMatchObject({ type: 'bid:new', agent_id: b.id });
    expect(missed.map((e) => e.status ?? e.type)).toEqual(['bid:new', 'AWARDED', 'IN_PROGRESS']);
    // In order, and nothing from before the resume point.
    const ids = missed.map((e) => e.event_id);
    expect([...ids].sort()).toEqual(ids);
    expect(missed.some((e) => e.event_id === last.event_id)).toBe(false);
  });
});
