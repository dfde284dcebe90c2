import Router from '@koa/router';
import type { ApiDeps } from '../deps';

// /health: the process is up. /ready: it can reach everything it needs.
export function healthRouter({ knex, redis, temporal }: ApiDeps): Router {
  const r = new Router();
  r.get('/health', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  r.get('/ready', async (ctx) => {
    const check = async (fn: () => Promise<unknown>) => {
      try {
        await Promise.race([fn(), new Promise((_, no) => setTimeout(() => no(new Error('timeout')), 2000))]);
        return 'ok';
      } catch (err) {
        return `error: ${(err as Error).message}`;
      }
    };
    const [postgres, redisState, temporalState] = await Promise.all([
      check(() => knex.raw('select 1')),
      check(() => redis.ping()),
      check(() => temporal.workflowService.getSystemInfo({})),
    ]);
    const checks = { postgres, redis: redisState, temporal: temporalState };
    const ready = Object.values(checks).every((v) => v === 'ok');
    ctx.status = ready ? 200 : 503;
    ctx.body = { status: ready ? 'ready' : 'unavailable', checks };
  });
  return r;
}
