import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { afterAll, describe, expect, it } from 'vitest';
import { LocalFirstLimiter } from '../../api/rate-limit';
import { eventually } from '../support/eventually';

// The per-caller limits answer most requests without a Redis round trip (api/rate-limit.ts);
// against the real Redis the test harness starts, they still admit exactly the limit.
const redis = new Redis(process.env.REDIS_URL!);
afterAll(() => redis.quit());

const limiterFor = (keyPrefix: string, points: number) =>
  new LocalFirstLimiter(new RateLimiterRedis({ storeClient: redis, keyPrefix, points, duration: 60 }), points, { syncMs: 20 });
const admitted = (l: LocalFirstLimiter, key: string) =>
  l.consume(key).then(
    () => true,
    (err) => {
      if (!(err instanceof RateLimiterRes)) throw err;
      return false;
    },
  );

describe('LocalFirstLimiter', () => {
  it('admits exactly the limit, one request at a time or all at once, and Redis ends with every one counted', async () => {
    for (const points of [1, 3, 10, 100]) {
      const prefix = `test:rl:${randomUUID()}`;
      const l = limiterFor(prefix, points);
      const sequential = [];
      for (let i = 0; i < points + 5; i++) sequential.push(await admitted(l, 'a'));
      expect(sequential.filter(Boolean)).toHaveLength(points);
      expect(sequential.slice(0, points).every(Boolean)).toBe(true);

      const burst = await Promise.all(Array.from({ length: points + 5 }, () => admitted(l, 'b')));
      expect(burst.filter(Boolean)).toHaveLength(points);

      // What was admitted locally reaches Redis within the sync interval.
      await eventually(async () => expect(Number(await redis.get(`${prefix}:a`))).toBe(points + 5));
    }
  });

  it('two API processes sharing a key: exact when each hears of the other within the sync interval, bounded when not', async () => {
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    const spaced = `test:rl:${randomUUID()}`;
    const [a, b] = [limiterFor(spaced, 20), limiterFor(spaced, 20)];
    let count = 0;
    for (let i = 0; i < 40; i++) {
      if (await admitted(i % 2 ? a : b, 'k')) count++;
      await sleep(30);
    }
    expect(count).toBe(20);

    // Back to back, each may admit up to half the limit the other has not reported yet.
    const burst = `test:rl:${randomUUID()}`;
    const [c, d] = [limiterFor(burst, 20), limiterFor(burst, 20)];
    count = 0;
    for (let i = 0; i < 60; i++) if (await admitted(i % 2 ? c : d, 'k')) count++;
    expect(count).toBeGreaterThanOrEqual(20);
    expect(count).toBeLessThanOrEqual(30);
  });
});
