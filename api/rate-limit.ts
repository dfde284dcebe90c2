import { LRUCache } from 'lru-cache';
import { RateLimiterRes, type RateLimiterRedis } from 'rate-limiter-flexible';

/**
 * A Redis rate limiter that asks Redis only when it matters. Redis holds the count of each key
 * for the window (RateLimiterRedis, fixed 60 s windows, shared by every API process). This
 * process remembers, per key, the count Redis last reported and the requests it has admitted
 * since; while that total stays under `localShare` of the limit (half, by default) and Redis was
 * asked less than `staleMs` ago, a request is admitted here without a round trip, and the
 * requests admitted so are added to Redis in one call every `syncMs`. At or above that share,
 * for a key this process has not seen this window, or when its view is stale, the request asks
 * Redis (adding what is still pending here), which decides exactly, as before.
 *
 * What that keeps: with one API process the limit is exact (every request it admitted is in
 * the total it decides on). With several, another process's requests are seen within `syncMs`;
 * a key can go over its limit only if the other processes use more than the remaining half of
 * it within that interval. What it loses: at most `syncMs` of admitted requests when a process
 * dies before it flushed them.
 */
export class LocalFirstLimiter {
  private readonly keys: LRUCache<string, KeyState>;
  private readonly localPoints: number;

  constructor(
    private readonly remote: RateLimiterRedis,
    points: number,
    private readonly opts: { localShare?: number; syncMs?: number; staleMs?: number; onError?: (err: unknown) => void } = {},
  ) {
    this.localPoints = points * (opts.localShare ?? 0.5);
    this.keys = new LRUCache({ max: 50_000 });
  }

  private get syncMs() {
    return this.opts.syncMs ?? 200;
  }

  /** Resolves when the request is admitted; rejects with the RateLimiterRes of a refusal. */
  async consume(key: string): Promise<void> {
    const now = Date.now();
    const s = this.keys.get(key);
    if (s && now < s.resetAt && now - s.syncedAt < (this.opts.staleMs ?? 1000) && s.known + s.pending + 1 < this.localPoints) {
      s.pending++;
      this.scheduleFlush(key, s);
      return;
    }
    const pending = s ? s.pending : 0;
    if (s) s.pending = 0;
    try {
      this.record(key, await this.remote.consume(key, 1 + pending), now);
    } catch (res) {
      if (res instanceof RateLimiterRes) this.record(key, res, now);
      else this.keys.delete(key);
      throw res;
    }
  }

  private record(key: string, res: RateLimiterRes, at: number) {
    const s = this.keys.get(key);
    const known = res.consumedPoints;
    const resetAt = at + res.msBeforeNext;
    if (s) Object.assign(s, { known, resetAt, syncedAt: at });
    else this.keys.set(key, { known, pending: 0, resetAt, syncedAt: at, timer: null });
  }

  /**
   * On shutdown, before the Redis client closes: the requests admitted here and not yet added
   * in Redis are added now, and no timer is left to call a closed client.
   */
  async close(): Promise<void> {
    this.closed = true;
    const flushes: Promise<unknown>[] = [];
    for (const [key, s] of this.keys.entries()) {
      if (s.timer) clearTimeout(s.timer);
      s.timer = null;
      if (s.pending > 0) flushes.push(this.remote.consume(key, s.pending).catch(() => undefined));
      s.pending = 0;
    }
    await Promise.all(flushes);
  }

  private closed = false;

  private scheduleFlush(key: string, s: KeyState) {
    if (s.timer || this.closed) return;
    s.timer = setTimeout(() => {
      s.timer = null;
      const pending = s.pending;
      if (pending === 0) return;
      s.pending = 0;
      const at = Date.now();
      this.remote.consume(key, pending).then(
        (res) => this.record(key, res, at),
        (res) => {
          if (res instanceof RateLimiterRes) return this.record(key, res, at);
          // Redis unreachable: forget the key, so its next request asks Redis and answers the error.
          this.keys.delete(key);
          this.opts.onError?.(res);
        },
      );
    }, this.syncMs);
    s.timer.unref();
  }
}

interface KeyState {
  /** The window's count as Redis last reported it. */
  known: number;
  /** Requests admitted here since, not yet added in Redis. */
  pending: number;
  resetAt: number;
  syncedAt: number;
  timer: NodeJS.Timeout | null;
}
