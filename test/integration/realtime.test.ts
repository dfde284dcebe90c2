import { io as connect, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { HermesAgent } from '../../sdk/src';
import { compareEventIds, EVENTS_STREAM, rooms } from '../../lib/events';
import { eventually } from '../support/eventually';
import { postContract, registerAgent, registerUser, startApiInstance, startPlatform, waitForContract, type Platform } from '../support/platform';

// Socket.IO against two API instances sharing Redis and Postgres, with a real worker emitting
// the events: handshake auth, relay across instances, ownership of subscriptions, resume.
let platform: Platform;
let second: Awaited<ReturnType<typeof startApiInstance>>;
const sockets: Socket[] = [];
beforeAll(async () => {
  // Presence expires after 2 s without a heartbeat here, and an instance's unfinished events
  // are taken over after 1 s, so those tests are quick.
  platform = await startPlatform({ PRESENCE_TTL_SECONDS: 2, EVENT_RELAY_RECLAIM_SECONDS: 1 });
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
    waitFor(pred: (e: Record<string, any>) => boolean, timeoutMs = 15_000) {
      return eventually(
        () => {
          const hit = seen.find(pred);
          if (!hit) throw new Error(`no matching event; saw ${JSON.stringify(seen.map((e) => [e.event, e.status ?? '']))}`);
          return hit;
        },
        { timeout: timeoutMs, interval: 25 },
      );
    },
  };
}

const subscribe = (socket: Socket, contractId: string) =>
  new Promise<Record<string, any>>((resolve) => socket.emit('subscribe', { contract_id: contractId }, resolve));

describe('the handshake', () => {
  it('refuses a bad API key, a bad token and no credentials', async () => {
    for (const auth of [{ api_key: 'hk_nope' }, { token: 'not.a.jwt' }, {}]) {
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
    const agentSocket = await ready(open(platform.base, { api_key: agent.apiKey }));
    const agentEvents = recorder(agentSocket, ['contract:new', 'contract:awarded', 'contract:closed']);
    const otherAgent = await registerAgent(api, owner.token, { capabilities: [`other-${capability}`] });
    const otherEvents = recorder(await ready(open(second.base, { api_key: otherAgent.apiKey })), ['contract:new']);

    const id = await postContract(api, user.token, { required_capabilities: [capability] });
    expect(await agentEvents.waitFor((e) => e.event === 'contract:new' && e.contract_id === id)).toMatchObject({ required_capabilities: [capability], event_id: expect.stringMatching(/^\d+-\d+$/) });
    // Only agents with a matching capability hear of it.
    expect(otherEvents.seen.filter((e) => e.contract_id === id)).toEqual([]);

    await waitForContract(api, user.token, id, 'BIDDING');
    const userSocket = await ready(open(second.base, { token: user.token }));
    const userEvents = recorder(userSocket, ['contract:status', 'bid:new', 'delivery:new']);
    expect(await subscribe(userSocket, id)).toEqual({ ok: true, contract_id: id });

    await api('POST', '/api/v1/mesh/bid', { apiKey: agent.apiKey, body: { contract_id: id, price_cents: 1_000, eta_seconds: 60, confidence: 0.9 } });
    expect(await userEvents.waitFor((e) => e.event === 'bid:new')).toMatchObject({ contract_id: id, agent_id: agent.id, price_cents: 1_000 });
    await api('POST', `/api/v1/contracts/${id}/close-bidding`, { token: user.token });
    await userEvents.waitFor((e) => e.event === 'contract:status' && e.status === 'IN_PROGRESS');
    expect(await agentEvents.waitFor((e) => e.event === 'contract:awarded')).toMatchObject({ contract_id: id, price_cents: 1_000 });

    await api('POST', '/api/v1/mesh/deliver', { apiKey: agent.apiKey, body: { contract_id: id, output: { ok: true } } });
    expect(await userEvents.waitFor((e) => e.event === 'delivery:new')).toMatchObject({ contract_id: id, output: { ok: true } });
    await api('POST', `/api/v1/contracts/${id}/accept`, { token: user.token, body: { rating: 5 } });
    await userEvents.waitFor((e) => e.event === 'contract:status' && e.status === 'SETTLED');
    expect(await agentEvents.waitFor((e) => e.event === 'contract:closed')).toMatchObject({ contract_id: id, status: 'SETTLED' });

    // Exactly once each, though two instances relay: the consumer group hands each event to one.
    const bids = userEvents.seen.filter((e) => e.event === 'bid:new');
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
    const agentSocket = await ready(open(platform.base, { api_key: agent.apiKey }));
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

    const again = open(second.base, { token: user.token, last_event_id: last.event_id, contracts: [id] });
    const after = recorder(again, ['bid:new', 'contract:status']);
    await ready(again);
    await after.waitFor((e) => e.event === 'contract:status' && e.status === 'IN_PROGRESS');
    const missed = after.seen.filter((e) => e.contract_id === id);
    expect(missed[0]).toMatchObject({ event: 'bid:new', agent_id: b.id });
    expect(missed.map((e) => e.status ?? e.event)).toEqual(['bid:new', 'AWARDED', 'IN_PROGRESS']);
    // In order, and nothing from before the resume point.
    const ids = missed.map((e) => e.event_id);
    expect([...ids].sort()).toEqual(ids);
    expect(missed.some((e) => e.event_id === last.event_id)).toBe(false);
  });
});

describe('presence', () => {
  it('an agent is online while it heartbeats and offline after it stops', async () => {
    const { api } = platform;
    const owner = await registerUser(api);
    const agent = await registerAgent(api, owner.token);
    expect((await api('GET', `/api/v1/agents/${agent.id}`)).body).toMatchObject({ online: false, last_seen_at: null });
    const sdk = new HermesAgent({ baseUrl: platform.base, apiKey: agent.apiKey, heartbeatMs: 500 });
    await sdk.connect();
    const online = (await api('GET', `/api/v1/agents/${agent.id}`)).body;
    expect(online.online).toBe(true);
    expect(Date.parse(online.last_seen_at)).toBeGreaterThan(Date.now() - 10_000);
    // Heartbeats keep it alive past the TTL (2 s): once one lands 2.5 s after the first
    // sighting, the agent is still online.
    const later = await eventually(async () => {
      const body = (await api('GET', `/api/v1/agents/${agent.id}`)).body;
      expect(Date.parse(body.last_seen_at) - Date.parse(online.last_seen_at)).toBeGreaterThan(2_500);
      return body;
    });
    expect(later.online).toBe(true);

    // Stop heartbeating but stay connected: offline once the TTL passes.
    (sdk as unknown as { heartbeat: NodeJS.Timeout }).heartbeat && clearInterval((sdk as unknown as { heartbeat: NodeJS.Timeout }).heartbeat);
    const offline = await eventually(async () => {
      const body = (await api('GET', `/api/v1/agents/${agent.id}`)).body;
      expect(body.online).toBe(false);
      return body;
    });
    expect(offline.last_seen_at).toBe(online.last_seen_at === null ? null : offline.last_seen_at);
    expect((await api('GET', `/api/v1/agents?limit=100`)).body.data.find((a: { id: string }) => a.id === agent.id)).toMatchObject({ online: false });
    sdk.close();
  });
});

describe('the agent SDK', () => {
  it('drives a whole contract over sockets: offer, bid with an answer, award, delivery', async () => {
    const { api } = platform;
    const user = await registerUser(api);
    const owner = await registerUser(api, 'Owner');
    const capability = `sdk-${Date.now()}`;
    const cheap = await registerAgent(api, owner.token, { name: 'cheap', capabilities: [capability] });
    const pricey = await registerAgent(api, owner.token, { name: 'pricey', capabilities: [capability] });
    const answers: unknown[] = [];
    const delivered: string[] = [];
    const agents = [
      { creds: cheap, price: 0.5 },
      { creds: pricey, price: 0.9 },
    ].map(({ creds, price }) => {
      const sdk = new HermesAgent({ baseUrl: second.base, apiKey: creds.apiKey, heartbeatMs: 500 });
      sdk.on('contract:new', async (c) => {
        // Contracts without required capabilities (other test files post some) reach every agent.
        if (!c.required_capabilities.includes(capability)) return;
        answers.push(await sdk.bid(c.contract_id, { priceCents: Math.round(c.reward_cents * price), etaSeconds: 60, confidence: 0.9 }));
        // A second bid without `replace` is refused, with the reason.
        answers.push(await sdk.bid(c.contract_id, { priceCents: 1, etaSeconds: 60, confidence: 0.9 }));
      });
      sdk.on('contract:awarded', async (a) => {
        await sdk.deliver(a.contract_id, { by: creds.id, price: a.price_cents });
        delivered.push(creds.id);
      });
      return sdk;
    });
    await Promise.all(agents.map((a) => a.connect()));

    const id = await postContract(api, user.token, { required_capabilities: [capability], reward_cents: 10_000, weights: { price: 10_000, performance: 0, speed: 0, reputation: 0 } });
    await eventually(() => answers.length >= 4, { message: 'four bid answers' });
    expect(answers.filter((a) => (a as { accepted: boolean }).accepted)).toHaveLength(2);
    expect(answers.filter((a) => !(a as { accepted: boolean }).accepted)).toEqual([
      { accepted: false, error: expect.objectContaining({ code: 'DUPLICATE_BID' }) },
      { accepted: false, error: expect.objectContaining({ code: 'DUPLICATE_BID' }) },
    ]);
    await api('POST', `/api/v1/contracts/${id}/close-bidding`, { token: user.token });
    const contract = await waitForContract(api, user.token, id, 'DELIVERED');
    await eventually(() => delivered.length > 0, { message: 'a delivery by the SDK' });
    expect(delivered).toEqual([cheap.id]);
    expect(contract.deliveries[0].output).toEqual({ by: cheap.id, price: 5_000 });
    for (const a of agents) a.close();
  });

  it('reconnects after a dropped connection and receives what it missed', async () => {
    const { api } = platform;
    const user = await registerUser(api);
    const owner = await registerUser(api, 'Owner');
    const capability = `resume-${Date.now()}`;
    const agent = await registerAgent(api, owner.token, { capabilities: [capability] });
    const offers: string[] = [];
    // Slow to come back (0.5–1.5 s), so the second contract is most likely posted while it is away.
    const sdk = new HermesAgent({ baseUrl: platform.base, apiKey: agent.apiKey, reconnectDelayMs: 1_000 });
    sdk.on('contract:new', (c) => void (c.required_capabilities.includes(capability) && offers.push(c.contract_id)));
    await sdk.connect();
    const first = await postContract(api, user.token, { required_capabilities: [capability] });
    await eventually(() => offers.length >= 1, { message: 'the first offer' });
    // A real drop: the server closes the agent's connection under it (not a disconnect, which
    // the client would take as final); the SDK reconnects and resumes after its last event.
    for (const socket of platform.instance.realtime.io.of('/').sockets.values()) {
      if (socket.data.identity?.agentId === agent.id) socket.conn.close();
    }
    const missed = await postContract(api, user.token, { required_capabilities: [capability] });
    await eventually(() => offers.length >= 2, { message: 'the offer missed while dropped' });
    expect(offers).toEqual([first, missed]);
    sdk.close();
  });
});

describe('agent-to-agent conversations', () => {
  it('two SDK agents talk live; only participants read; a closed conversation takes no more', async () => {
    const { api } = platform;
    const owner = await registerUser(api);
    const a = await registerAgent(api, owner.token, { name: 'alice' });
    const b = await registerAgent(api, owner.token, { name: 'bob' });
    const c = await registerAgent(api, owner.token, { name: 'carol' });
    const alice = new HermesAgent({ baseUrl: platform.base, apiKey: a.apiKey });
    const bob = new HermesAgent({ baseUrl: second.base, apiKey: b.apiKey });
    const heard: { by: string; body: unknown; type: string }[] = [];
    alice.on('a2a:message', (m) => void heard.push({ by: 'alice', body: m.body, type: m.type }));
    bob.on('a2a:message', async (m) => {
      heard.push({ by: 'bob', body: m.body, type: m.type });
      if (m.type === 'question') await bob.send(m.conversation_id, { answer: 42 }, 'answer');
    });
    let closedFor = '';
    bob.on('a2a:closed', (e) => void (closedFor = e.conversation_id));
    await Promise.all([alice.connect(), bob.connect()]);

    const conversation = await alice.startConversation(b.id, { subject: 'split the work?' });
    await alice.send(conversation.id, { q: 'the answer?' }, 'question');
    await eventually(() => heard.length >= 2, { timeout: 10_000, message: 'question and answer' });
    expect(heard).toEqual([
      { by: 'bob', body: { q: 'the answer?' }, type: 'question' },
      { by: 'alice', body: { answer: 42 }, type: 'answer' },
    ]);
    expect((await bob.messages(conversation.id)).map((m) => m.type)).toEqual(['question', 'answer']);

    const outsider = await api('GET', `/api/v1/a2a/conversations/${conversation.id}/messages`, { apiKey: c.apiKey });
    expect(outsider.status).toBe(404);
    expect((await api('POST', '/api/v1/a2a/conversations', { apiKey: a.apiKey, body: { agent_id: a.id } })).status).toBe(400);

    await alice.closeConversation(conversation.id);
    const late = await api('POST', `/api/v1/a2a/conversations/${conversation.id}/messages`, { apiKey: b.apiKey, body: { body: 'wait' } });
    expect(late.status).toBe(409);
    await eventually(() => closedFor !== '', { timeout: 10_000, message: 'a2a:closed' });
    expect(closedFor).toBe(conversation.id);
    alice.close();
    bob.close();
  });
});

describe('subscribing', () => {
  it('catches up on an event that went out live before the relay stamped its outbox row', async () => {
    // The relay adds a batch to the stream, then stamps the rows published; an event emitted live
    // in between, before a socket joined the room, was in neither place the catch-up read.
    const { api } = platform;
    const user = await registerUser(api);
    const id = await postContract(api, user.token);
    const probe = { type: 'contract:status', rooms: [rooms.contract(id)], data: { contract_id: id, status: 'BIDDING', failure_reason: null, status_detail: 'unstamped probe' } };
    // A busy minute first: more events than one catch-up read takes, about other contracts.
    const busy = platform.deps.redis.pipeline();
    const other = { type: 'contract:status', rooms: [rooms.contract('00000000-0000-4000-8000-000000000000')], data: { status: 'BIDDING' } };
    for (let i = 0; i < 1_100; i++) busy.xadd(EVENTS_STREAM, '*', 'event', JSON.stringify(other));
    await busy.exec();
    const eventId = (await platform.deps.redis.xadd(EVENTS_STREAM, '*', 'event', JSON.stringify(probe)))!;
    // Gone out live: the relay group has taken and acknowledged it.
    await eventually(async () => {
      const [group] = ((await platform.deps.redis.xinfo('GROUPS', EVENTS_STREAM)) as unknown[][]).map((g) => Object.fromEntries(chunks(g)));
      expect(compareEventIds(String(group!['last-delivered-id']), eventId)).toBeGreaterThanOrEqual(0);
      expect(Number(group!.pending)).toBe(0);
    });
    const socket = await ready(open(platform.base, { token: user.token }));
    const events = recorder(socket, ['contract:status']);
    expect(await subscribe(socket, id)).toMatchObject({ ok: true });
    expect(await events.waitFor((e) => e.event_id === eventId)).toMatchObject({ status_detail: 'unstamped probe' });
    // And the outbox's BIDDING too.
    await events.waitFor((e) => e.status === 'BIDDING' && e.status_detail === null);
  });
});

describe('subscribing when the history cannot be read', () => {
  it('answers UNAVAILABLE and does not subscribe, rather than ok without the history; a retry subscribes', async () => {
    // An instance whose Redis commands fail at once (a closed port): the contract's history
    // (the stream's last minute) cannot be read.
    const unreachable = new Redis('redis://127.0.0.1:1', { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0 });
    unreachable.on('error', () => undefined);
    const broken = await startApiInstance({ ...platform.deps, redis: unreachable });
    try {
      const { api } = platform;
      const user = await registerUser(api);
      const id = await postContract(api, user.token);
      const socket = await ready(open(broken.base, { token: user.token }));
      const events = recorder(socket, ['contract:status']);
      expect(await subscribe(socket, id)).toMatchObject({ error: { code: 'UNAVAILABLE' } });
      // Not in the room: a later event of the contract does not reach this socket.
      expect((await api('POST', `/api/v1/contracts/${id}/cancel`, { token: user.token, body: {} })).status).toBe(200);
      const healthy = await ready(open(platform.base, { token: user.token }));
      const heard = recorder(healthy, ['contract:status']);
      expect(await subscribe(healthy, id)).toMatchObject({ ok: true });
      await heard.waitFor((e) => e.status === 'CANCELLED');
      expect(events.seen).toEqual([]);
    } finally {
      await broken.close();
      unreachable.disconnect();
    }
  });
});

const chunks = (xs: unknown[]) => Array.from({ length: xs.length / 2 }, (_, i) => [xs[2 * i], xs[2 * i + 1]] as const);

describe('shutting down an instance', () => {
  it('an event an instance took and never relayed (it died mid-batch) reaches its subscriber through another', async () => {
    const { api } = platform;
    const user = await registerUser(api);
    const id = await postContract(api, user.token);
    const socket = await ready(open(second.base, { token: user.token }));
    const events = recorder(socket, ['contract:status']);
    expect(await subscribe(socket, id)).toMatchObject({ ok: true });
    // A consumer that dies holding the event: the append and its read in one transaction, so
    // no live instance can take it first.
    const probe = { type: 'contract:status', rooms: [rooms.contract(id)], data: { contract_id: id, status: 'BIDDING', failure_reason: null, status_detail: 'reclaim probe' } };
    const [[, eventId]] = (await platform.deps.redis
      .multi()
      .xadd(EVENTS_STREAM, '*', 'event', JSON.stringify(probe))
      .xreadgroup('GROUP', 'hermes-relay', 'api-died-mid-batch', 'COUNT', 1000, 'STREAMS', EVENTS_STREAM, '>')
      .exec()) as [[null, string], unknown];
    const relayed = await events.waitFor((e) => e.event_id === eventId);
    expect(relayed).toMatchObject({ contract_id: id, status_detail: 'reclaim probe' });
    // It is acknowledged now: nothing is left pending for the group.
    await eventually(async () => {
      const pending = (await platform.deps.redis.xpending(EVENTS_STREAM, 'hermes-relay', eventId, eventId, 1)) as unknown[];
      expect(pending).toEqual([]);
    });
  });

  it('leaves no failed Redis command unhandled, even with a cross-instance message still in flight', async () => {
    // Unhandled rejections end a Node process: an instance closing (or Redis failing) while the
    // adapter's PUBLISH of a cross-instance message was on the wire once did exactly that.
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const third = await startApiInstance(platform.deps);
      third.realtime.io.serverSideEmit('hermes:probe', { n: 1 });
      await third.close();
      // A cut connection fails its commands when its socket's close event arrives: let a few
      // I/O turns (Redis round trips) pass before looking.
      for (let i = 0; i < 3; i++) await platform.deps.redis.ping();
      await new Promise((r) => setImmediate(r));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
