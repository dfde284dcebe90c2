import type { Context, Next } from 'koa';
import type { HttpMetrics } from '../lib/metrics';

// Counts and times every request by its route template (@koa/router's _matchedRoute, e.g.
// /api/v1/contracts/:id), never the raw path, so the label set stays as small as the route
// table. A request no route matched is `unmatched`. Outermost, so it sees the final status
// that errorMiddleware set.
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
      const route = (ctx as Context & { _matchedRoute?: string | RegExp })._matchedRoute;
      const labels = { route: route === undefined ? 'unmatched' : String(route), method: ctx.method };
      m.requests.inc({ ...labels, status: String(status) });
      m.duration.observe(labels, (performance.now() - started) / 1000);
    }
  };
}
