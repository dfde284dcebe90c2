import type { Redis } from 'ioredis';

// Real-time events go through one Redis Stream: lifecycle events from the outbox relay
// (workers/outbox-relay.ts; activities write them to Postgres with their change, lib/outbox.ts),
// A2A messages straight from the API. Every API instance relays the stream to Socket.IO rooms.
// The stream entry id is the event's sequence id, so a client that reconnects with the last id
// it saw can be sent what it missed, from any instance, for as long as the stream retains it
// (EVENTS_RETENTION entries, trimmed approximately).

export const EVENTS_STREAM = 'hermes:events';

/** Socket.IO rooms events are addressed to. */
export const rooms = {
  user: (userId: string) => `user:${userId}`,
  agent: (agentId: string) => `agent:${agentId}`,
  capability: (capability: string) => `capability:${capability}`,
  /** Agents with no capability filter hear every open contract. */
  allAgents: 'agents',
  contract: (contractId: string) => `contract:${contractId}`,
};

export type EventType =
  | 'contract:new'
  | 'contract:awarded'
  | 'contract:cancelled'
  | 'contract:closed'
  | 'contract:status'
  | 'bid:new'
  | 'execution:progress'
  | 'delivery:new'
  | 'delivery:validated'
  | 'a2a:message'
  | 'a2a:closed';

export interface HermesEvent {
  type: EventType;
  rooms: string[];
  data: Record<string, unknown>;
}

export interface StoredEvent extends HermesEvent {
  /** The stream id: monotonically increasing, the client's resume point. */
  id: string;
}

export interface EventPublisher {
  publish(event: HermesEvent): Promise<string>;
}

export function createEventPublisher(redis: Redis, retention: number): EventPublisher {
  return {
    async publish(e) {
      const id = await redis.xadd(...xaddArgs(EVENTS_STREAM, retention, e));
      return id!;
    },
  };
}

/**
 * XADD arguments for one event (the stream assigns its id). An event from the outbox also
 * carries its row id, so a relay taking over can tell what its predecessor already published.
 */
export function xaddArgs(stream: string, retention: number, e: HermesEvent, outboxId?: string): [string, ...string[]] {
  const fields = ['event', JSON.stringify({ type: e.type, rooms: e.rooms, data: e.data })];
  if (outboxId !== undefined) fields.push('outbox_id', outboxId);
  return [stream, 'MAXLEN', '~', String(retention), '*', ...fields];
}

export function parseEntry([id, fields]: [string, string[]]): StoredEvent {
  const event = JSON.parse(fields[fields.indexOf('event') + 1]!) as HermesEvent;
  return { id, ...event };
}

// Presence: an agent is online while its key lives; each heartbeat renews it.
export const presenceKey = (agentId: string) => `hermes:presence:${agentId}`;

/** Orders stream ids ("<ms>-<seq>"): the resume point is the largest one handled. */
export function compareEventIds(a: string, b: string): number {
  const [am, as] = a.split('-').map(Number) as [number, number];
  const [bm, bs] = b.split('-').map(Number) as [number, number];
  return am - bm || as - bs;
}
