import { randomUUID } from 'node:crypto';
import { io as connect, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../../activities';
import { createKnex, type Knex } from '../../db/knex';
import type { Award } from '../../domain/contract-types';
import { compareEventIds, EVENTS_STREAM, parseEntry, rooms, type HermesEvent } from '../../lib/events';
import { appendEvents } from '../../lib/outbox';
import { createStripe } from '../../lib/stripe';
import { up as createOutbox } from '../../migrations/20261201000600_create_event_outbox';
import { startOutboxRelay, type OutboxRelay } from '../../workers/outbox-relay';
import { eventually } from '../support/eventually';
import { postContract, registerAgent, registerUser, startPlatform, uploadAgent, waitForContract, type Platform } from '../support/platform';
import { exampleAgent } from '../support/wasm';

// Events come from a transactional outbox: published iff their change committed, in commit
// order, and none lost or doubled when the relay stops, restarts or hands over.
let platform: Platform;
const sockets: Socket[] = [];
beforeAll(async () => {
  platform = await startPlatform();
});
afterAll(async () => {
  for (const s of sockets) s.close();
  await platform?.close();
});

/**
 * A user's socket following one contract, resuming after `lastEventId`: the events it gets,
 * deduplicated on event_id as clients are told to (a resume may overlap live delivery).
 */
async function follow(token: string, contractId: string, lastEventId: string): Promise<Record<string, any>[]> {
  const socket = connect(platform.base, { auth: { token, contracts: [contractId], last_event_id: lastEventId }, transports: ['websocket'], reconnection: false, forceNew: true });
  sockets.push(socket);
  const seen: Record<string, any>[] = [];
  socket.onAny((_name, e) => {
    if (e?.event_id && !seen.some((s) => s.event_id === e.event_id)) seen.push(e);
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('ready', () => resolve());
    socket.once('connect_error', reject);
  });
  return seen;
}

/** Waits until the contract's event of `type` is in the stream after `after`. */
async function inStream(contractId: string, type: string, after: string) {
  await eventually(async () => {
    const entries = (await platform.deps.redis.xrange(EVENTS_STREAM, `(${after}`, '+')) as [string, string[]][];
    return entries.map(parseEntry).some((e) => e.type === type && e.data.contract_id === contractId);
  });
}

async function streamTop(stream = EVENTS_STREAM): Promise<string> {
  const [top] = (await platform.deps.redis.xrevrange(stream, '+', '-', 'COUNT', 1)) as [string, string[]][];
  return top?.[0] ?? '0-0';
}

/** One bid, close, delivery and accept: the contract goes through every status to SETTLED. */
async function settle(userToken: string, agentKey: string, id: string) {
  const { api } = platform;
  await api('POST', '/api/v1/mesh/bid', { apiKey: agentKey, body: { contract_id: id, price_cents: 1_000, eta_seconds: 60, confidence: 0.9 } });
  await api('POST', `/api/v1/contracts/${id}/close-bidding`, { token: userToken });
  await waitForContract(api, userToken, id, 'IN_PROGRESS');
  await api('POST', '/api/v1/mesh/deliver', { apiKey: agentKey, body: { contract_id: id, output: { ok: true } } });
  await waitForContract(api, userToken, id, 'DELIVERED');
  await api('POST', `/api/v1/contracts/${id}/accept`, { token: userToken, body: { rating: 5 } });
}

describe('contract events', () => {
  it('a subscription made right after POST /contracts answered gets every event, BIDDING first', async () => {
    const { api } = platform;
    const user = await registerUser(api);
    const owner = await registerUser(api, 'Owner');
    const agent = await registerAgent(api, owner.token);
    const id = await postContract(api, user.token);
    // Subscribe as the README shows, with no resume point.
    const socket = connect(platform.base, { auth: { token: user.token }, transports: ['websocket'], reconnection: false, forceNew: true });
    sockets.push(socket);
    const seen: Record<string, any>[] = [];
    socket.onAny((_name, e) => {
      if (e?.event_id && !seen.some((x) => x.event_id === e.event_id)) seen.push(e);
    });
    await new Promise<void>((resolve) => socket.once('ready', () => resolve()));
    expect(await socket.emitWithAck('subscribe', { contract_id: id })).toEqual({ ok: true, contract_id: id });

    await settle(user.token, agent.apiKey, id);
    await eventually(() =>
      expect(seen.filter((e) => e.event === 'contract:status').map((e) => e.status)).toEqual(['BIDDING', 'AWARDED', 'IN_PROGRESS', 'DELIVERED', 'SETTLED']),
    );
    expect(seen.filter((e) => e.event === 'bid:new')).toHaveLength(1);
    expect(seen.filter((e) => e.event === 'delivery:new')).toHaveLength(1);
  });

  it('the owner hears contract:status for every status, DELIVERED included, once each and in order', async () => {
    const { api } = platform;
    const user = await registerUser(api);
    const owner = await registerUser(api, 'Owner');
    const agent = await registerAgent(api, owner.token);
    const before = await streamTop();
    const id = await postContract(api, user.token);
    await waitForContract(api, user.token, id, 'BIDDING');
    // Resuming from before the contract existed also brings its first status.
    await inStream(id, 'contract:status', before);
    const seen = await follow(user.token, id, before);
    const events = (pred: (e: Record<string, any>) => boolean) => seen.filter(pred);

    await settle(user.token, agent.apiKey, id);

    const statuses = () => events((e) => e.event === 'contract:status' && e.contract_id === id);
    await eventually(() => expect(statuses().at(-1)?.status).toBe('SETTLED'));
    expect(statuses().map((e) => e.status)).toEqual(['BIDDING', 'AWARDED', 'IN_PROGRESS', 'DELIVERED', 'SETTLED']);
    const ids = events((e) => e.contract_id === id).map((e) => e.event_id as string);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort(compareEventIds)).toEqual(ids);
    // The delivery and the status it brought arrive together, the delivery first.
    const order = events((e) => e.contract_id === id && e.event !== 'execution:progress').map((e) => e.status ?? e.event);
    expect(order.slice(order.indexOf('delivery:new'), order.indexOf('delivery:new') + 2)).toEqual(['delivery:new', 'DELIVERED']);
  });

  it('a sandbox run’s progress comes between IN_PROGRESS and its delivery', async () => {
    const { api } = platform;
    const user = await registerUser(api);
    const owner = await registerUser(api, 'Owner');
    const upload = await uploadAgent(platform.base, owner.token, exampleAgent('text-stats'), { name: 'text-stats', version: '1.0.0', capabilities: 'text' });
    expect(upload.status).toBe(201);
    const id = await postContract(api, user.token, { context: { text: 'Hermes runs agents.' }, required_capabilities: ['text'] });
    await waitForContract(api, user.token, id, 'BIDDING');
    const seen = await follow(user.token, id, await streamTop());
    await api('POST', '/api/v1/mesh/bid', { apiKey: upload.body.api_key, body: { contract_id: id, price_cents: 1_000, eta_seconds: 30, confidence: 0.9 } });
    await api('POST', `/api/v1/contracts/${id}/close-bidding`, { token: user.token });

    const order = () => seen.filter((e) => e.contract_id === id).map((e) => e.phase ?? e.status ?? e.event);
    await eventually(() => expect(order()).toContain('DELIVERED'));
    expect(order().slice(order().indexOf('IN_PROGRESS'))).toEqual(['IN_PROGRESS', 'running', 'finished', 'delivery:new', 'DELIVERED']);
  });

  it('a change whose transaction rolls back publishes nothing', async () => {
    const { api, deps, config } = platform;
    const user = await registerUser(api);
    const owner = await registerUser(api, 'Owner');
    const [agent, other] = [await registerAgent(api, owner.token), await registerAgent(api, owner.token)];
    const id = await postContract(api, user.token);
    await waitForContract(api, user.token, id, 'BIDDING');
    const seen = await follow(user.token, id, await streamTop());
    const events = (pred: (e: Record<string, any>) => boolean) => seen.filter(pred);
    const bid = (apiKey: string) => api('POST', '/api/v1/mesh/bid', { apiKey, body: { contract_id: id, price_cents: 1_000, eta_seconds: 60, confidence: 0.9 } });
    await bid(agent.apiKey);
    const bidId = await eventually(() => deps.knex('bids').where({ contract_id: id }).first('id').then((b) => b?.id ?? false));

    // The award's status change is written, then a later statement of the same transaction
    // is refused: the whole write is undone, its contract:status AWARDED with it.
    const activities = createActivities({ knex: deps.knex, stripe: createStripe(config), config });
    const award: Award = {
      bidId,
      agentId: agent.id,
      priceCents: 1_000,
      etaSeconds: 60,
      mode: 'auto',
      score: 1,
      // A lone surrogate: JSON text that Postgres' jsonb refuses, in the bids' scores written after the status.
      ranking: [{ bidId, excludedBy: '\ud800' } as unknown as Award['ranking'][number]],
      awardedAt: new Date().toISOString(),
    };
    await expect(activities.recordAward(id, award, [])).rejects.toThrow(/SQLSTATE 22/);

    // A change committed after it is published; the undone one never is.
    await bid(other.apiKey);
    await eventually(() => expect(events((e) => e.event === 'bid:new' && e.agent_id === other.id)).toHaveLength(1));
    expect(events((e) => e.event === 'contract:status' && e.status === 'AWARDED')).toEqual([]);
    const outbox = await deps.knex('event_outbox').where({ contract_id: id, type: 'contract:status' }).pluck('payload');
    expect(outbox.map((p: { status: string }) => p.status)).toEqual(['BIDDING']);
    expect((await api('GET', `/api/v1/contracts/${id}`, { token: user.token })).body.status).toBe('BIDDING');
  });
});

describe('the relay', () => {
  // Its own database and stream, so stopping its relays stops no other test file's events.
  const database = `hermes_outbox_${randomUUID().replaceAll('-', '')}`;
  const stream = `hermes:test-outbox:${randomUUID()}`;
  let db: Knex;
  const relays: OutboxRelay[] = [];
  const relay = (pollMs = 60_000) => {
    // A long poll: what is published promptly was woken by NOTIFY.
    const r = startOutboxRelay({ databaseUrl: url(), redis: platform.deps.redis, retention: 1_000, log: platform.deps.log, stream, pollMs, standbyMs: 100 });
    relays.push(r);
    return r;
  };
  const url = () => {
    const u = new URL(platform.config.DATABASE_URL);
    u.pathname = `/${database}`;
    return u.toString();
  };

  beforeAll(async () => {
    await platform.deps.knex.raw(`CREATE DATABASE ${database}`);
    db = createKnex({ DATABASE_URL: url(), DATABASE_POOL_MAX: 4 });
    await createOutbox(db);
  });
  afterAll(async () => {
    await Promise.all(relays.map((r) => r.stop()));
    await db?.destroy();
    await platform.deps.knex.raw(`DROP DATABASE IF EXISTS ${database}`);
    await platform.deps.redis.del(stream);
  });

  const event = (n: number): HermesEvent => ({ type: 'bid:new', rooms: [rooms.contract('relay-test')], data: { n } });
  const append = (n: number) => db.transaction((trx) => appendEvents(trx, null, [event(n)]));
  const published = async () =>
    ((await platform.deps.redis.xrange(stream, '-', '+')) as [string, string[]][]).map(parseEntry);
  const publishedNs = async () => (await published()).map((e) => e.data.n);

  it('publishes what was written while it was stopped when it starts again, in order, once', async () => {
    const first = relay();
    await append(1);
    await append(2);
    await eventually(async () => expect(await publishedNs()).toEqual([1, 2]));
    await first.stop();

    for (const n of [3, 4, 5]) await append(n);
    expect(await publishedNs()).toEqual([1, 2]);
    // A relay that died between publishing row 3 and stamping it left it in the stream.
    const [row3] = await db('event_outbox').whereNull('published_at').orderBy('id').limit(1);
    await platform.deps.redis.xadd(stream, '*', 'event', JSON.stringify(event(3)), 'outbox_id', String(row3.id));

    // Two relays start; one leads.
    const [a, b] = [relay(), relay()];
    await eventually(async () => expect(await db('event_outbox').whereNull('published_at').count('* as n').first()).toEqual({ n: 0 }));
    expect(await publishedNs()).toEqual([1, 2, 3, 4, 5]);
    expect([a.leading, b.leading].filter(Boolean)).toHaveLength(1);
    // Each row is stamped with the stream entry it went out as.
    const rows = await db('event_outbox').orderBy('id').select('id', 'stream_id');
    expect(rows.map((r) => r.stream_id)).toEqual((await published()).map((e) => e.id));

    // The leader goes; the standby takes over and is woken by the next commit.
    const [leader, standby] = a.leading ? [a, b] : [b, a];
    await leader.stop();
    await eventually(() => standby.leading);
    await append(6);
    await eventually(async () => expect(await publishedNs()).toEqual([1, 2, 3, 4, 5, 6]));
  });

  it('publishes nothing from a transaction that rolls back', async () => {
    relay();
    await expect(
      db.transaction(async (trx) => {
        await appendEvents(trx, null, [event(100)]);
        throw new Error('undone');
      }),
    ).rejects.toThrow('undone');
    await append(101);
    await eventually(async () => expect((await publishedNs()).at(-1)).toBe(101));
    expect(await publishedNs()).not.toContain(100);
  });
});
