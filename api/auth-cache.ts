import { LRUCache } from 'lru-cache';
import type { Redis } from 'ioredis';
import type { Agent } from '../db/models';

// Every authenticated request looked its caller up in Postgres (the API key's agent, or the
// JWT's user). These lookups are cached here, per API process, for AUTH_CACHE_TTL_SECONDS:
//
// - A revocation (API key revoked, agent or user gone or changed) drops the entries at once in
//   the process that made it, before its answer is sent, so the next request there is refused.
// - It is also published on Redis (AUTH_INVALIDATION_CHANNEL); every other API process drops
//   the same entries when the message arrives (milliseconds).
// - Only if a process misses a message (its subscriber was disconnected from Redis) can a
//   revoked key still work there, for at most the TTL; on reconnecting it clears everything.
// - A lookup that raced an invalidation (read before it, stored after it) is not stored.
//
// Only positive answers are cached: an unknown or revoked key always goes to Postgres.

export const AUTH_INVALIDATION_CHANNEL = 'hermes:auth:invalidate';

type Invalidation = { agent: string } | { user: string };

export interface AuthCache {
  /** The agent for an API key's hash, from the cache or `load`. */
  agentForKeyHash(keyHash: string, load: () => Promise<Agent | undefined>): Promise<Agent | undefined>;
  /** Whether a user exists (not deleted), from the cache or `load`. */
  userExists(userId: string, load: () => Promise<boolean>): Promise<boolean>;
  /** Drops the agent's keys here and in every API process (key revoked, agent changed or deleted). */
  forgetAgent(agentId: string): Promise<void>;
  /** Drops the user here and in every API process (user deleted). */
  forgetUser(userId: string): Promise<void>;
  close(): Promise<void>;
}

export function createAuthCache(deps: { redis: Redis; ttlSeconds: number; max?: number; onError?: (err: unknown) => void }): AuthCache {
  const { redis, ttlSeconds } = deps;
  const max = deps.max ?? 10_000;
  const enabled = ttlSeconds > 0;
  const ttl = ttlSeconds * 1000;
  const keys = new LRUCache<string, Agent>({ max, ttl });
  const users = new LRUCache<string, true>({ max, ttl });
  // Bumped by every invalidation: a lookup that started before one does not store its answer.
  let epoch = 0;

  function dropAgent(agentId: string): void {
    epoch++;
    for (const [hash, agent] of keys.entries()) if (agent.id === agentId) keys.delete(hash);
  }
  function dropUser(userId: string): void {
    epoch++;
    users.delete(userId);
  }
  function dropAll(): void {
    epoch++;
    keys.clear();
    users.clear();
  }

  // A subscriber connection of its own (a subscribed connection can do nothing else).
  const sub = enabled ? redis.duplicate({ lazyConnect: true, enableOfflineQueue: true, maxRetriesPerRequest: null }) : null;
  let wasReady = false;
  if (sub) {
    sub.on('message', (_channel: string, text: string) => {
      try {
        const msg = JSON.parse(text) as Invalidation;
        if ('agent' in msg) dropAgent(msg.agent);
        else if ('user' in msg) dropUser(msg.user);
      } catch {
        dropAll();
      }
    });
    // Messages sent while disconnected are lost: start afresh after a reconnect.
    sub.on('ready', () => {
      if (wasReady) dropAll();
      wasReady = true;
    });
    sub.on('error', (err) => deps.onError?.(err));
    sub.subscribe(AUTH_INVALIDATION_CHANNEL).catch((err) => deps.onError?.(err));
  }

  async function publish(msg: Invalidation): Promise<void> {
    if (!enabled) return;
    // The local drop already happened; other processes fall back on the TTL if this fails.
    await redis.publish(AUTH_INVALIDATION_CHANNEL, JSON.stringify(msg)).catch((err) => deps.onError?.(err));
  }

  return {
    async agentForKeyHash(keyHash, load) {
      if (!enabled) return load();
      const hit = keys.get(keyHash);
      if (hit) return hit;
      const started = epoch;
      const agent = await load();
      if (agent && epoch === started) keys.set(keyHash, agent);
      return agent;
    },
    async userExists(userId, load) {
      if (!enabled) return load();
      if (users.get(userId)) return true;
      const started = epoch;
      const exists = await load();
      if (exists && epoch === started) users.set(userId, true);
      return exists;
    },
    async forgetAgent(agentId) {
      dropAgent(agentId);
      await publish({ agent: agentId });
    },
    async forgetUser(userId) {
      dropUser(userId);
      await publish({ user: userId });
    },
    async close() {
      if (sub) await sub.quit().catch(() => sub.disconnect());
    },
  };
}
