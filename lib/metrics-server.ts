import { createHash, timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Logger } from './logger';

// /metrics is for operators. With METRICS_TOKEN set, a scrape must send it as a bearer token
// (Prometheus: `authorization: { credentials: … }`). Without one, only clients on this machine
// are answered, judged by the connection's own address (never X-Forwarded-For), and in
// production none: a proxy on the same host would make every client local.

const sha = (s: string) => createHash('sha256').update(s).digest();

/** Whether this request may read the metrics: 'ok', or why not (a missing or wrong token; not local, or local not allowed). */
export function metricsAccess(req: IncomingMessage, token: string | undefined, allowLocal: boolean): 'ok' | 'unauthorized' | 'forbidden' {
  if (token) {
    const header = req.headers.authorization ?? '';
    const given = header.startsWith('Bearer ') ? header.slice(7) : '';
    // Equal-length digests, so the comparison takes the same time whatever was sent.
    return timingSafeEqual(sha(given), sha(token)) ? 'ok' : 'unauthorized';
  }
  if (!allowLocal) return 'forbidden';
  const from = req.socket.remoteAddress ?? '';
  return from === '127.0.0.1' || from === '::1' || from.startsWith('::ffff:127.') || from.startsWith('127.') ? 'ok' : 'forbidden';
}

/**
 * The process's metrics in Prometheus text format, followed by the Temporal SDK's own (from
 * the SDK runtime's exporter on `sdkMetricsUrl`, which only listens on 127.0.0.1): one scrape
 * target per process. `hermes_temporal_sdk_metrics_up` says whether the SDK's part is there.
 */
export async function renderMetrics(registry: Registry, sdkMetricsUrl?: string): Promise<string> {
  let sdk = '';
  if (sdkMetricsUrl) {
    let up = 0;
    try {
      const res = await fetch(sdkMetricsUrl, { signal: AbortSignal.timeout(2_000) });
      if (res.ok) {
        sdk = await res.text();
        up = 1;
      }
    } catch {
      // reported as up 0
    }
    sdk = `# HELP hermes_temporal_sdk_metrics_up Whether the Temporal SDK's metrics could be read for this scrape.\n# TYPE hermes_temporal_sdk_metrics_up gauge\nhermes_temporal_sdk_metrics_up ${up}\n${sdk}`;
  }
  return (await registry.metrics()) + sdk;
}

export interface MetricsServer {
  /** Where it listens, e.g. http://127.0.0.1:9470/metrics. */
  url: string;
  close(): Promise<void>;
}

/**
 * A worker's /metrics on its own port. A port that is taken is logged and left off, so a
 * worker never fails to run for want of its metrics (two workers on one machine need two
 * ports; see WORKER_METRICS_PORT).
 */
export async function serveMetrics(o: {
  registry: Registry;
  host: string;
  port: number;
  token: string | undefined;
  /** Whether a local client needs no token (not in production). */
  allowLocal: boolean;
  sdkMetricsUrl?: string;
  log: Logger;
}): Promise<MetricsServer | null> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (req.method !== 'GET' || path !== '/metrics') {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
      return;
    }
    const access = metricsAccess(req, o.token, o.allowLocal);
    if (access !== 'ok') {
      res.writeHead(access === 'unauthorized' ? 401 : 403, { 'Content-Type': 'text/plain' }).end(`${access}\n`);
      return;
    }
    renderMetrics(o.registry, o.sdkMetricsUrl).then(
      (body) => res.writeHead(200, { 'Content-Type': o.registry.contentType }).end(body),
      (err) => {
        o.log.error({ err }, 'metrics: rendering failed');
        res.writeHead(500, { 'Content-Type': 'text/plain' }).end('metrics failed\n');
      },
    );
  });
  server.listen(o.port, o.host);
  try {
    await Promise.race([once(server, 'listening'), once(server, 'error').then(([err]) => Promise.reject(err))]);
  } catch (err) {
    o.log.error({ err, host: o.host, port: o.port }, 'metrics: cannot listen; this process serves no /metrics');
    return null;
  }
  const { port } = server.address() as AddressInfo;
  const url = `http://${o.host.includes(':') ? `[${o.host}]` : o.host}:${port}/metrics`;
  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // A scraper's keep-alive connection would hold close() open until it timed out.
        server.closeAllConnections();
      }),
  };
}
