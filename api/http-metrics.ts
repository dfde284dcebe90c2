import type { Context, Next } from 'koa';
import type { HttpMetrics } from '../lib/metrics';

// Counts and times every request by its route template (@koa/router's _matchedRoute, e.g.
// /api/v1/contracts/:id), never the raw path, so the label set stays as small as the route
// table. A CORS preflight is answered before routing, so it is `preflight`; any other request no
// route matched is `unmatched`. Outermost, so it sees the final status that errorMiddleware set.
export function recordHttpMetrics(m: HttpMetrics) {
  return async (ctx: Context, next: Next) => {
    const started = performance.now();
    let status: number | undefined;
    try {
      await next();
      status = ctx.status;
    } catch (err) {
      // Only if something escaped errorMiddleware: Koa answers it with its status or 500.
      status = (err as { status?: number }).status ?? 500;
      throw err;
    } finally {
      const labels = { route: routeLabel(ctx), method: ctx.method };
      m.requests.inc({ ...labels, status: String(status) });
      m.duration.observe(labels, (performance.now() - started) / 1000);
    }
  };
}

function routeLabel(ctx: Context): string {
  const route = (ctx as Context & { _matchedRoute?: string | RegExp })._matchedRoute;
  if (route !== undefined) return String(route);
  return ctx.method === 'OPTIONS' && ctx.get('Access-Control-Request-Method') ? 'preflight' : 'unmatched';
}
