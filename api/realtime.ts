import { createAdapter } from '@socket.io/redis-streams-adapter';
import { Redis } from 'ioredis';
import type { Server as HttpServer } from 'node:http';
import { randomUUID } from 'node:crypto';
import { Server, type Socket } from 'socket.io';
import { holdsAllCapabilities } from '../domain/capabilities';
import { compareEventIds, EVENTS_STREAM, parseEntry, presenceKey, rooms, type StoredEvent } from '../lib/events';
import { socketIoOriginOptions } from './cors';
import type { ApiDeps } from './deps';

// Socket.IO on the API's HTTP server. Agents connect with their API key, users with their
// JWT (handshake `auth: { api_key }` or `auth: { token }`); anything else is refused.
//
// Relay: the activities append events to the hermes:events stream. The API instances read it
// as one consumer group, so each event is taken by one instance, which emits it to its rooms
// through the Redis Streams adapter, reaching sockets on every instance. An event taken and not
// acknowledged (its instance died mid-batch) is claimed by another after
// EVENT_RELAY_RECLAIM_SECONDS and relayed late rather than never; a stopping instance finishes
// its batch first.
//
// Resume: every event carries `event_id` (its stream id, increasing). A client that
// reconnects with `auth.last_event_id` (and `auth.contracts` it had subscribed to) first gets,
// in order, the retained events after that id that are addressed to it, then live ones. The
// guarantee is at-least-once within the retention: dedupe on event_id. If the id has been
// trimmed away, `events:gap` tells the client to reload state over HTTP.
//
// contract:new reaches only agents that may bid on it: those holding every required
// capability (domain/capabilities.ts). It is addressed to the capability rooms, but rooms only
// ever add up (an agent with one of the capabilities is in one of them) and this is an
// intersection, so the event goes to every instance (serverSideEmit) and each emits it to its
// own sockets that pass the rule.

const GROUP = 'hermes-relay';
const REPLAY_LIMIT = 1000;
/** How far back a subscription's catch-up reads the stream itself (see replayContract). */
const RECENT_STREAM_MS = 60_000;
const NARROWED = 'hermes:narrowed-event';

type Identity = { kind: 'agent'; agentId: string; capabilities: string[] } | { kind: 'user'; userId: string };

/** The capabilities a socket must hold all of to receive the event; none for most events. */
function requiredCapabilities(e: StoredEvent): string[] {
  const required = e.type === 'contract:new' ? e.data.required_capabilities : undefined;
  return Array.isArray(required) ? required.map(String) : [];
}

function mayReceive(identity: Identity, e: StoredEvent): boolean {
  const required = requiredCapabilities(e);
  if (required.length === 0) return true;
  return identity.kind === 'agent' && holdsAllCapabilities(identity.capabilities, required);
}

export async function attachRealtime(server: HttpServer, deps: ApiDeps) {
  const { config, knex, tokens, auth, log } = deps;
  const adapterRedis = new Redis(config.REDIS_URL);
  catchDroppedCommands(adapterRedis, (err) => log.warn({ err }, 'socket.io adapter command failed'));
  // Browsers only from CORS_ORIGINS, websocket upgrades included (api/cors.ts).
  const io = new Server(server, { adapter: createAdapter(adapterRedis), serveClient: false, ...socketIoOriginOptions(config.CORS_ORIGINS) });

  io.use(async (socket, next) => {
    try {
      // snake_case like every other field of the API.
      const { api_key: apiKey, token } = socket.handshake.auth as { api_key?: string; token?: string };
      if (apiKey) {
        const agent = await auth.agentForKey(apiKey);
        if (agent && agent.status === 'active') {
          socket.data.identity = { kind: 'agent', agentId: agent.id, capabilities: agent.capabilities } satisfies Identity;
          return next();
        }
      } else if (token) {
        const userId = await tokens.verify(token);
        if (userId) {
          socket.data.identity = { kind: 'user', userId } satisfies Identity;
          return next();
        }
      }
      next(Object.assign(new Error('UNAUTHENTICATED'), { data: { code: 'UNAUTHENTICATED', message: 'connect with auth.api_key (agents) or auth.token (users)' } }));
    } catch (err) {
      next(err as Error);
    }
  });

  // Online = the presence key lives (renewed by heartbeats); last_seen_at is persisted too.
  async function heartbeat(agentId: string) {
    await deps.redis.set(presenceKey(agentId), new Date().toISOString(), 'EX', config.PRESENCE_TTL_SECONDS);
    await knex('agents').where({ id: agentId }).update({ last_seen_at: knex.fn.now() });
  }

  async function ownsContract(userId: string, contractId: string): Promise<boolean> {
    if (!/^[0-9a-f-]{36}$/i.test(contractId)) return false;
    return Boolean(await knex('contracts').where({ id: contractId, user_id: userId }).whereNull('deleted_at').first('id'));
  }

  // Socket.IO does not await its handlers: a handler that fails (Redis or Postgres gone for a
  // moment, or closing at shutdown) must not become an unhandled rejection that kills the process.
  const guarded =
    <A extends unknown[]>(what: string, handler: (...args: A) => Promise<void>, ack?: (args: A) => ((r: unknown) => void) | undefined) =>
    (...args: A) => {
      handler(...args).catch((err) => {
        log.warn({ err }, `${what} failed`);
        ack?.(args)?.({ error: { code: 'UNAVAILABLE', message: `${what} failed for a moment; try again` } });
      });
    };
  const lastAck = <A extends unknown[]>(args: A) => {
    const last = args[args.length - 1];
    return typeof last === 'function' ? (last as (r: unknown) => void) : undefined;
  };

  io.on(
    'connection',
    guarded('socket connection', async (socket: Socket) => {
      const identity = socket.data.identity as Identity;
      if (identity.kind === 'agent') {
        socket.join([rooms.agent(identity.agentId), rooms.allAgents, ...identity.capabilities.map(rooms.capability)]);
        socket.on(
          'presence:heartbeat',
          guarded(
            'presence heartbeat',
            async (_: unknown, ack?: (r: unknown) => void) => {
              await heartbeat(identity.agentId);
              ack?.({ ok: true, ttl_seconds: config.PRESENCE_TTL_SECONDS });
            },
            lastAck,
          ),
        );
        socket.on(
          'disconnect',
          guarded('presence on disconnect', async () => {
            // Offline at once when its last connection (on any instance) goes.
            const left = await io.in(rooms.agent(identity.agentId)).fetchSockets().catch(() => [1]);
            if (left.length === 0) await deps.redis.del(presenceKey(identity.agentId));
          }),
        );
        // Presence missed now is set by the next heartbeat; the catch-up below matters more.
        await heartbeat(identity.agentId).catch((err) => log.warn({ err, agent_id: identity.agentId }, 'presence not set at connect'));
      } else {
        socket.join(rooms.user(identity.userId));
      }

      // A user follows one of their own contracts; anyone else's is refused.
      socket.on(
        'subscribe',
        guarded(
          'subscribe',
          async (req: { contract_id?: string }, ack?: (r: unknown) => void) => {
            const contractId = String(req?.contract_id ?? '');
            if (identity.kind !== 'user' || !(await ownsContract(identity.userId, contractId))) {
              ack?.({ error: { code: 'NOT_FOUND', message: 'contract not found' } });
              return;
            }
            // Joined before the history is read, so nothing falls between; without its history the
            // subscription would say ok and miss events: UNAVAILABLE, and the client retries.
            socket.join(rooms.contract(contractId));
            let history: StoredEvent[];
            try {
              history = await contractHistory(contractId);
            } catch (err) {
              socket.leave(rooms.contract(contractId));
              throw err;
            }
            ack?.({ ok: true, contract_id: contractId });
            for (const e of history) socket.emit(e.type, payload(e));
          },
          lastAck,
        ),
      );
      socket.on('unsubscribe', (req: { contract_id?: string }, ack?: (r: unknown) => void) => {
        socket.leave(rooms.contract(String(req?.contract_id ?? '')));
        ack?.({ ok: true });
      });

      try {
        const { last_event_id: lastEventId, contracts } = socket.handshake.auth as { last_event_id?: string; contracts?: string[] };
        if (identity.kind === 'user' && Array.isArray(contracts)) {
          for (const c of contracts.slice(0, 100)) if (await ownsContract(identity.userId, String(c))) socket.join(rooms.contract(String(c)));
        }
        if (lastEventId) await replay(socket, String(lastEventId));
      } catch (err) {
        // Without its rooms or its catch-up the socket would miss events silently: close it, and
        // the client reconnects and resumes from its last event id.
        socket.disconnect(true);
        throw err;
      }
      // Where this client stands in the stream, now that its rooms are joined: a client that has
      // not had an event yet resumes from here, so what is published while it is away is replayed.
      // Left out when the stream is empty, or Redis cannot say: connecting does not wait on it.
      const resumeFrom = await deps.redis
        .xrevrange(EVENTS_STREAM, '+', '-', 'COUNT', 1)
        .then((entries) => entries[0]?.[0] ?? null, () => null);
      socket.emit('ready', { rooms: [...socket.rooms].filter((r) => r !== socket.id), ...(resumeFrom && { last_event_id: resumeFrom }) });
    }),
  );

  // A new subscription first gets what was already published about the contract (the outbox
  // keeps published rows for an hour), so subscribing right after POST /contracts answered
  // still sees BIDDING and every bid. The relay stamps a row published just after adding it to
  // the stream, and the event may have gone out live before this socket joined: the stream's
  // last minute is read too, so an event between the two is not missed. Live events may
  // overlap: clients dedupe on event_id.
  async function contractHistory(contractId: string): Promise<StoredEvent[]> {
    const room = rooms.contract(contractId);
    const [published, recent] = await Promise.all([
      knex('event_outbox')
        .where({ contract_id: contractId })
        .whereNotNull('stream_id')
        .whereRaw('? = ANY(rooms)', [room])
        .orderBy('id')
        .select('type', 'payload', 'rooms', 'stream_id'),
      // Newest first: the gap is the last moments, and a busy minute holds more than the count.
      deps.redis.xrevrange(EVENTS_STREAM, '+', `${Date.now() - RECENT_STREAM_MS}-0`, 'COUNT', REPLAY_LIMIT) as Promise<[string, string[]][]>,
    ]);
    const events = new Map<string, StoredEvent>();
    for (const row of published) events.set(row.stream_id, { id: row.stream_id, type: row.type, rooms: row.rooms, data: row.payload });
    for (const entry of recent) {
      const e = parseEntry(entry);
      if (e.rooms.includes(room) && !events.has(e.id)) events.set(e.id, e);
    }
    return [...events.values()].sort((a, b) => compareEventIds(a.id, b.id));
  }

  async function replay(socket: Socket, lastEventId: string) {
    const redis = deps.redis;
    let entries: [string, string[]][];
    try {
      entries = (await redis.xrange(EVENTS_STREAM, `(${lastEventId}`, '+', 'COUNT', REPLAY_LIMIT)) as [string, string[]][];
    } catch {
      socket.emit('events:gap', { last_event_id: lastEventId, reason: 'not an event id' });
      return;
    }
    const [first] = (await redis.xrange(EVENTS_STREAM, '-', '+', 'COUNT', 1)) as [string, string[]][];
    if (first && compareEventIds(first[0], lastEventId) > 0 && entries[0]?.[0] === first[0]) {
      // Everything after lastEventId up to the oldest retained entry was trimmed.
      socket.emit('events:gap', { last_event_id: lastEventId, oldest_retained: first[0] });
    }
    for (const entry of entries) {
      const e = parseEntry(entry);
      if (e.rooms.some((r) => socket.rooms.has(r)) && mayReceive(socket.data.identity as Identity, e)) socket.emit(e.type, payload(e));
    }
  }

  async function emitNarrowedLocally(e: StoredEvent) {
    for (const socket of await io.local.in(e.rooms).fetchSockets()) {
      if (mayReceive(socket.data.identity as Identity, e)) socket.emit(e.type, payload(e));
    }
  }
  io.on(NARROWED, (e: StoredEvent) => {
    emitNarrowedLocally(e).catch((err) => log.warn({ err, event_id: e.id }, 'narrowed event not emitted'));
  });
  async function broadcast(e: StoredEvent) {
    if (requiredCapabilities(e).length === 0) {
      if (e.rooms.length) io.to(e.rooms).emit(e.type, payload(e));
      return;
    }
    io.serverSideEmit(NARROWED, e);
    await emitNarrowedLocally(e);
  }

  const relay = startRelay();
  function startRelay() {
    const reader = new Redis(config.REDIS_URL);
    const consumer = `api-${randomUUID()}`;
    const reclaimIdleMs = Math.round(config.EVENT_RELAY_RECLAIM_SECONDS * 1000);
    let running = true;
    let lastReclaim = 0;
    // What went out is acknowledged in one XACK after the batch (or after the entry that failed,
    // which stays pending with the rest, to be reclaimed); an instance that dies mid-batch leaves
    // the whole batch to be relayed again (at-least-once, deduped on event_id).
    const relayEntries = async (entries: [string, string[]][]) => {
      const sent: string[] = [];
      try {
        for (const entry of entries) {
          await broadcast(parseEntry(entry));
          sent.push(entry[0]);
        }
      } finally {
        if (sent.length) await reader.xack(EVENTS_STREAM, GROUP, ...sent);
      }
    };
    // Entries another consumer took and never acknowledged, idle long enough that it is gone.
    const reclaim = async () => {
      let cursor = '0-0';
      do {
        const [next, entries] = (await reader.xautoclaim(EVENTS_STREAM, GROUP, consumer, reclaimIdleMs, cursor, 'COUNT', 100)) as [string, [string, string[] | null][]];
        const live = entries.filter((e): e is [string, string[]] => e[1] !== null);
        if (live.length) log.info({ events: live.length }, 'relaying events another instance took and did not finish');
        await relayEntries(live);
        cursor = next;
      } while (cursor !== '0-0' && running);
    };
    const loop = (async () => {
      try {
        await reader.xgroup('CREATE', EVENTS_STREAM, GROUP, '$', 'MKSTREAM');
      } catch (err) {
        if (!String(err).includes('BUSYGROUP')) throw err;
      }
      while (running) {
        try {
          if (Date.now() - lastReclaim >= reclaimIdleMs / 2) {
            lastReclaim = Date.now();
            await reclaim();
          }
          const res = (await reader.xreadgroup('GROUP', GROUP, consumer, 'COUNT', 100, 'BLOCK', 1000, 'STREAMS', EVENTS_STREAM, '>')) as
            | [string, [string, string[]][]][]
            | null;
          for (const [, entries] of res ?? []) await relayEntries(entries);
        } catch (err) {
          if (!running) break;
          log.warn({ err }, 'event relay read failed; retrying');
          await new Promise((r) => setTimeout(r, 500));
        }
      }
    })();
    return {
      async stop() {
        // Finish the batch in hand (a read blocks at most 1 s), then close; cut it only if stuck.
        running = false;
        const finished = await Promise.race([loop.then(() => true, () => true), new Promise<false>((r) => setTimeout(() => r(false), 3000).unref())]);
        if (!finished) reader.disconnect();
        else await reader.quit().catch(() => reader.disconnect());
        await loop.catch(() => undefined);
      },
    };
  }

  return {
    io,
    async close() {
      await relay.stop();
      await new Promise<void>((r) => io.close(() => r()));
      // QUIT after what is in flight (the adapter's last messages), not a cut connection.
      await adapterRedis.quit().catch(() => adapterRedis.disconnect());
    },
  };
}

/**
 * The streams adapter (0.3.1) drops the promises of two commands: the PUBLISH of its ephemeral
 * messages (fetchSockets, serverSideEmit) and its SUBSCRIBE, on this client and on the
 * duplicates it makes. If one fails (Redis down, the instance closing) the rejection is
 * unhandled, and an unhandled rejection ends the process. Its other commands it handles itself.
 */
function catchDroppedCommands(client: Redis, onError: (err: unknown) => void): Redis {
  for (const name of ['publish', 'subscribe'] as const) {
    const send = (client[name] as (...args: unknown[]) => Promise<unknown>).bind(client);
    (client as unknown as Record<string, unknown>)[name] = (...args: unknown[]) => {
      const sent = send(...args);
      sent.catch(onError);
      return sent;
    };
  }
  const duplicate = client.duplicate.bind(client);
  client.duplicate = ((...args: Parameters<Redis['duplicate']>) => catchDroppedCommands(duplicate(...args), onError)) as Redis['duplicate'];
  return client;
}

// The event's name travels as `event` so it never clobbers a field of the data (e.g. a message's type).
const payload = (e: StoredEvent) => ({ ...e.data, event: e.type, event_id: e.id });
