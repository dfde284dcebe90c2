import cors from '@koa/cors';
import type { IncomingMessage } from 'node:http';
import type { Context, Middleware, Next } from 'koa';
import type { ServerOptions } from 'socket.io';
import { HttpError } from './errors';

// Which browser pages may use the API: the origins in CORS_ORIGINS, and no other.
//
// No credentials mode: users send a bearer JWT and agents an X-API-Key, both set by the page's
// own code as request headers, which CORS governs through Allow-Headers alone. Hermes sets no
// cookies, so there is nothing ambient for a browser to attach, and leaving
// Access-Control-Allow-Credentials out means no other origin could ride a session even if one
// were added later. (Allow-Origin is always the one requesting origin, never `*`.)

/** Request headers a page may send: both credentials, retries, JSON bodies, its own request id. */
export const CORS_ALLOWED_HEADERS = ['Authorization', 'X-API-Key', 'Idempotency-Key', 'Content-Type', 'X-Request-Id'];
/** Response headers a page may read beyond the safelisted ones: every one the API sets for clients. */
export const CORS_EXPOSED_HEADERS = ['Retry-After', 'X-Request-Id', 'Location', 'Idempotent-Replayed'];
const ALLOWED_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'];
// Browsers cache a granted preflight this long (Chromium caps it at 2 h), so a page does not
// send an OPTIONS before every call.
const PREFLIGHT_MAX_AGE_SECONDS = 600;

/**
 * CORS for the Koa app. A preflight from an allowed origin is a 204 naming the allowed methods
 * and headers; any other preflight (an unknown origin, or a server-to-server route such as
 * Stripe's webhook) is a 403 without Access-Control-Allow-Origin, so the browser refuses the
 * call. Actual requests from an unknown origin are served as for any client but carry no
 * Access-Control-Allow-Origin, so the page cannot read the answer.
 *
 * Goes inside the error middleware: its 403 gets the error envelope, and the headers it sets
 * before calling on stay on error answers (a 401, 429 or 503 the page must be able to read).
 */
export function corsMiddleware(allowedOrigins: readonly string[], { serverToServerPrefixes }: { serverToServerPrefixes: string[] }): Middleware {
  const allowed = new Set(allowedOrigins);
  const granted = (ctx: Context) => allowed.has(ctx.get('Origin')) && !serverToServerPrefixes.some((p) => ctx.path.startsWith(p));
  const grant = cors({
    origin: (ctx) => (granted(ctx) ? ctx.get('Origin') : ''),
    allowMethods: ALLOWED_METHODS,
    allowHeaders: CORS_ALLOWED_HEADERS,
    exposeHeaders: CORS_EXPOSED_HEADERS,
    maxAge: PREFLIGHT_MAX_AGE_SECONDS,
    credentials: false,
    // The error middleware around this keeps headers already set; copying them onto the error
    // object would also mutate errors that are shared between requests.
    keepHeadersOnError: false,
  });
  return async (ctx: Context, next: Next) => {
    const preflight = ctx.method === 'OPTIONS' && ctx.get('Origin') !== '' && ctx.get('Access-Control-Request-Method') !== '';
    if (preflight && !granted(ctx)) {
      ctx.vary('Origin');
      throw new HttpError('FORBIDDEN', `origin ${ctx.get('Origin')} may not call ${ctx.path} from a browser`);
    }
    return grant(ctx, next);
  };
}

/**
 * The same allow-list for Socket.IO. Its `cors` option only adds headers to HTTP long-polling
 * answers, and browsers apply no CORS to WebSockets at all, so without `allowRequest` a page
 * on any origin could open a socket. It checks the handshake (polling or a direct websocket
 * upgrade; a later upgrade reuses a session whose handshake passed): a browser always sends
 * Origin there, so one that is not listed is refused (403 for polling, 400 for a websocket).
 * No Origin means no browser (the agent SDK in Node, a server): allowed, and the handshake's
 * credentials decide as usual.
 */
export function socketIoOriginOptions(allowedOrigins: readonly string[]): Pick<ServerOptions, 'cors' | 'allowRequest'> {
  const allowed = new Set(allowedOrigins);
  return {
    cors: { origin: [...allowed], methods: ['GET', 'POST'], credentials: false },
    allowRequest(req: IncomingMessage, callback: (err: string | null | undefined, success: boolean) => void) {
      const origin = req.headers.origin;
      if (origin === undefined || allowed.has(origin)) callback(null, true);
      else callback(`origin ${origin} is not allowed`, false);
    },
  };
}
