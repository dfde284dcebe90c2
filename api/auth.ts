import type { Context, Next } from 'koa';
import type { Knex } from 'knex';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { Redis } from 'ioredis';
import type { Agent } from '../db/models';
import type { Config } from '../lib/config';
import { createAuthCache } from './auth-cache';
import { hashApiKey, type Tokens } from './credentials';
import { LocalFirstLimiter } from './rate-limit';
import { HttpError } from './errors';

export interface AuthState {
  userId?: string;
  agent?: Agent;
}

export function createAuth(deps: {
  knex: Knex;
  redis: Redis;
  tokens: Tokens;
  config: Pick<
    Config,
    'RATE_LIMIT_USER_PER_MINUTE' | 'RATE_LIMIT_AGENT_PER_MINUTE' | 'RATE_LIMIT_AUTH_PER_MINUTE' | 'RATE_LIMIT_PUBLIC_PER_MINUTE' | 'AUTH_CACHE_TTL_SECONDS'
  >;
  onError?: (err: unknown) => void;
}) {
  const { knex, redis, tokens, config } = deps;
  // Key and user lookups, cached briefly and dropped on revocation (api/auth-cache.ts).
  const cache = createAuthCache({ redis, ttlSeconds: config.AUTH_CACHE_TTL_SECONDS, onError: deps.onError });
  const limiter = (keyPrefix: string, points: number) =>
    new RateLimiterRedis({ storeClient: redis, keyPrefix, points, duration: 60 });
  // The per-caller limits are checked here first and in Redis when it matters (api/rate-limit.ts:
  // exact with one API process; Redis is told every 200 ms, and decides near the limit).
  const localFirst = (keyPrefix: string, points: number) => new LocalFirstLimiter(limiter(keyPrefix, points), points);
  const perUser = localFirst('hermes:rl:user', config.RATE_LIMIT_USER_PER_MINUTE);
  const perAgent = localFirst('hermes:rl:agent', config.RATE_LIMIT_AGENT_PER_MINUTE);
  // Login and registration are guessable: limit them per client address.
  const perAddress = limiter('hermes:rl:auth', config.RATE_LIMIT_AUTH_PER_MINUTE);
  // Public reads (agent discovery) need no account, so they are limited per address.
  const perAddressReads = localFirst('hermes:rl:public', config.RATE_LIMIT_PUBLIC_PER_MINUTE);

  async function consume(l: { consume(key: string): Promise<unknown> }, key: string): Promise<void> {
    try {
      await l.consume(key);
    } catch (res) {
      if (!(res instanceof RateLimiterRes)) throw res;
      const retryAfter = Math.max(1, Math.ceil(res.msBeforeNext / 1000));
      throw new HttpError('RATE_LIMITED', `too many requests; retry in ${retryAfter}s`, undefined, { 'Retry-After': String(retryAfter) });
    }
  }

  // A read (GET, HEAD) does not wait for the limiter before it starts: the limiter's Redis call
  // and the handler run side by side, and the response waits for both, so a request over the
  // limit is still refused (429, Retry-After; its read is discarded) and every request still
  // counts exactly once. Anything that changes state waits for the limiter first, as before.
  async function limited(ctx: Context, next: Next, check: Promise<void>): Promise<void> {
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
      await check;
      return next();
    }
    const [limit, handled] = await Promise.allSettled([check, next()]);
    if (limit.status === 'rejected') throw limit.reason;
    if (handled.status === 'rejected') throw handled.reason;
  }

  /** The agent an API key belongs to, if the key is valid and not revoked. */
  async function agentForKey(key: string): Promise<Agent | undefined> {
    const keyHash = hashApiKey(key);
    return cache.agentForKeyHash(keyHash, () =>
      knex('api_keys as k')
        .join('agents as a', 'a.id', 'k.agent_id')
        .where({ 'k.key_hash': keyHash })
        .whereNull('k.revoked_at')
        .whereNull('a.deleted_at')
        .first('a.*'),
    );
  }

  return {
    agentForKey,
    /** Call after revoking an agent's key, or changing or deleting the agent: its cached keys go. */
    forgetAgent: cache.forgetAgent,
    /** Call after deleting a user. */
    forgetUser: cache.forgetUser,
    /** Before the Redis client closes: the limiters' pending counts go to Redis, then the cache's subscriber closes. */
    async close() {
      await Promise.all([perUser.close(), perAgent.close(), perAddressReads.close()]);
      await cache.close();
    },

    async requireUser(ctx: Context, next: Next) {
      const header = ctx.get('Authorization');
      const match = /^Bearer\s+(\S+)$/i.exec(header);
      if (!match) throw new HttpError('UNAUTHENTICATED', 'send Authorization: Bearer <token>');
      const userId = await tokens.verify(match[1]!);
      if (!userId) throw new HttpError('UNAUTHENTICATED', 'the token is invalid or expired');
      const user = await cache.userExists(userId, async () => Boolean(await knex('users').where({ id: userId }).whereNull('deleted_at').first('id')));
      if (!user) throw new HttpError('UNAUTHENTICATED', 'the account no longer exists');
      (ctx.state as AuthState).userId = userId;
      await limited(ctx, next, consume(perUser, userId));
    },

    async requireAgent(ctx: Context, next: Next) {
      const key = ctx.get('X-API-Key');
      if (!key) throw new HttpError('UNAUTHENTICATED', 'send X-API-Key: <agent key>');
      const agent = await agentForKey(key);
      if (!agent) throw new HttpError('UNAUTHENTICATED', 'the API key is invalid or revoked');
      if (agent.status !== 'active') throw new HttpError('AGENT_INACTIVE', `agent is ${agent.status}`);
      (ctx.state as AuthState).agent = agent;
      await limited(ctx, next, consume(perAgent, agent.id));
    },

    async limitByAddress(ctx: Context, next: Next) {
      await consume(perAddress, ctx.ip);
      await next();
    },

    async limitPublicReads(ctx: Context, next: Next) {
      await limited(ctx, next, consume(perAddressReads, ctx.ip));
    },
  };
}
export type Auth = ReturnType<typeof createAuth>;

export const currentUserId = (ctx: Context): string => (ctx.state as AuthState).userId!;
export const currentAgent = (ctx: Context): Agent => (ctx.state as AuthState).agent!;
