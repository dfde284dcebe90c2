import Router from '@koa/router';
import { metricsAccess, renderMetrics } from '../../lib/metrics-server';
import type { ApiDeps } from '../deps';
import { HttpError } from '../errors';

// GET /metrics: this API process's figures for Prometheus (README, Operating Hermes). Operators
// only: the METRICS_TOKEN bearer token, or without one a client on this machine outside
// production (lib/metrics-server.ts).
export function metricsRouter({ config, metrics }: ApiDeps): Router {
  const r = new Router();
  r.get('/metrics', async (ctx) => {
    const access = metricsAccess(ctx.req, config.METRICS_TOKEN, config.NODE_ENV !== 'production');
    if (access === 'unauthorized') throw new HttpError('UNAUTHENTICATED', 'send the metrics token as a bearer token', undefined, { 'WWW-Authenticate': 'Bearer' });
    if (access === 'forbidden') throw new HttpError('FORBIDDEN', config.NODE_ENV === 'production' ? 'metrics need METRICS_TOKEN in production' : 'metrics are served to this machine only unless METRICS_TOKEN is set');
    ctx.type = metrics.registry.contentType;
    ctx.body = await renderMetrics(metrics.registry);
  });
  return r;
}
