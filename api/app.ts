import { bodyParser } from '@koa/bodyparser';
import Router from '@koa/router';
import Koa from 'koa';
import { randomUUID } from 'node:crypto';
import { corsMiddleware } from './cors';
import type { ApiDeps } from './deps';
import { errorMiddleware } from './errors';
import { recordHttpMetrics } from './http-metrics';
import { cleanInput, requireKnownMediaType } from './input-guards';
import { securityHeaders } from './security-headers';
import { a2aRouter } from './routes/a2a';
import { agentsRouter } from './routes/agents';
import { authRouter } from './routes/auth';
import { docsRouter } from './routes/docs';
import { auditRouter } from './routes/audit';
import { contractsRouter } from './routes/contracts';
import { healthRouter } from './routes/health';
import { marketplaceRouter } from './routes/marketplace';
import { metricsRouter } from './routes/metrics';
import { meshRouter } from './routes/mesh';
import { preferencesRouter } from './routes/preferences';
import { tasksRouter } from './routes/tasks';
import { verifiersRouter } from './routes/verifiers';
import { walletRouter } from './routes/wallet';
import { paymentsRouter } from './routes/payments';
import { webhooksRouter } from './routes/webhooks';

const RAW_BODY_PREFIX = '/api/v1/webhooks/';

export function createApp(deps: ApiDeps): Koa {
  // In production behind one load balancer: the client's address is the last X-Forwarded-For
  // entry (the one the balancer appended), never an earlier one a client can write itself,
  // which would let it pick its own per-address rate limit.
  const app = new Koa({ proxy: deps.config.NODE_ENV === 'production', maxIpsCount: 1 });
  const { log } = deps;

  app.use(recordHttpMetrics(deps.metrics.http));
  app.use(async (ctx, next) => {
    const started = performance.now();
    ctx.state.requestId = ctx.get('X-Request-Id') || randomUUID();
    ctx.set('X-Request-Id', ctx.state.requestId);
    await next();
    log.info(
      { requestId: ctx.state.requestId, method: ctx.method, path: ctx.path, status: ctx.status, ms: Math.round(performance.now() - started) },
      'request',
    );
  });
  app.use(securityHeaders());
  app.use(errorMiddleware(log));
  // Before anything that may refuse a request, so a preflight is answered here and a page can
  // read every refusal; the Stripe webhook is server-to-server and gets no CORS.
  app.use(corsMiddleware(deps.config.CORS_ORIGINS, { serverToServerPrefixes: [RAW_BODY_PREFIX] }));
  app.use(requireKnownMediaType);
  // Webhooks are verified on the exact bytes Stripe signed and may carry anything JSON can
  // (a customer's `__proto__` metadata key): they are read as text and judged by their route.
  const json = bodyParser({ enableTypes: ['json'], jsonLimit: deps.config.API_BODY_LIMIT, encoding: 'utf-8' });
  const text = bodyParser({ enableTypes: ['text'], extendTypes: { text: ['application/json'] }, textLimit: deps.config.API_BODY_LIMIT, encoding: 'utf-8' });
  app.use((ctx, next) => (ctx.path.startsWith(RAW_BODY_PREFIX) ? text(ctx, next) : json(ctx, next)));
  app.use(cleanInput({ rawBodyPrefixes: [RAW_BODY_PREFIX] }));

  // Each router's routes join this one's table, so its allowedMethods (below) answers 405/501 for
  // all of them; one per router would add a middleware to every request for nothing.
  const api = new Router({ prefix: '/api/v1' });
  for (const router of [authRouter, agentsRouter, auditRouter, contractsRouter, verifiersRouter, preferencesRouter, meshRouter, tasksRouter, paymentsRouter, walletRouter, marketplaceRouter, a2aRouter, webhooksRouter, docsRouter]) {
    const r = router(deps);
    api.use(r.routes());
  }
  const health = healthRouter(deps);
  app.use(health.routes());
  app.use(metricsRouter(deps).routes());
  app.use(api.routes());
  app.use(api.allowedMethods());
  return app;
}
