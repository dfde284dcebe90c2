import type Router from '@koa/router';
import { randomUUID } from 'node:crypto';
import { io as connect, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../api/app';
import { eventually } from '../support/eventually';
import { registerUser, startPlatform, type Platform } from '../support/platform';

// What a browser page sees: CORS preflights and answers, Socket.IO handshakes by origin, and
// the security headers — real requests against the real API, with the Origin a browser sends.
const APP = 'https://app.hermes.test';
const DEV = 'http://localhost:5173';
const EVIL = 'https://evil.example';

let platform: Platform;
const sockets: Socket[] = [];
beforeAll(async () => {
  platform = await startPlatform({ CORS_ORIGINS: Object.freeze([APP, DEV]) });
});
afterAll(async () => {
  for (const s of sockets) s.close();
  await platform?.close();
});

function preflight(path: string, origin: string, method = 'POST', headers = 'authorization,content-type,idempotency-key') {
  return fetch(`${platform.base}${path}`, {
    method: 'OPTIONS',
    headers: { Origin: origin, 'Access-Control-Request-Method': method, 'Access-Control-Request-Headers': headers },
  });
}

const list = (value: string | null) => (value ?? '').split(',').map((s) => s.trim().toLowerCase());

/** Every route the app serves, as [method, concrete path], read from its routers. */
function routes(): [string, string][] {
  const app = createApp(platform.deps);
  const layers = app.middleware.flatMap((m) => (m as { router?: Router }).router?.stack ?? []);
  return layers.flatMap((layer) =>
    layer.methods.filter((m) => m !== 'HEAD').map((m): [string, string] => [m, String(layer.path).replace(/:[a-z_]+/gi, randomUUID())]),
  );
}

describe('CORS preflight', () => {
  it('grants every route to an allowed origin: 204, that origin, the methods and headers, no credentials', async () => {
    const all = routes();
    expect(all.length).toBeGreaterThan(40);
    for (const [method, path] of all) {
      if (path.startsWith('/api/v1/webhooks/')) continue;
      const res = await preflight(path, APP, method, 'authorization,x-api-key,idempotency-key,content-type,x-request-id');
      expect(res.status, `${method} ${path}`).toBe(204);
      expect(res.headers.get('access-control-allow-origin'), `${method} ${path}`).toBe(APP);
      expect(list(res.headers.get('access-control-allow-methods'))).toContain(method.toLowerCase());
      expect(list(res.headers.get('access-control-allow-headers'))).toEqual(
        expect.arrayContaining(['authorization', 'x-api-key', 'idempotency-key', 'content-type', 'x-request-id']),
      );
      expect(res.headers.get('access-control-allow-credentials')).toBeNull();
      expect(Number(res.headers.get('access-control-max-age'))).toBeGreaterThan(0);
      expect(list(res.headers.get('vary'))).toContain('origin');
    }
  });

  it('grants the local dev origin its own origin back, never *', async () => {
    const res = await preflight('/api/v1/contracts', DEV);
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe(DEV);
  });

  it('refuses an unknown origin: 403, no Access-Control-Allow-Origin, nothing else granted', async () => {
    for (const origin of [EVIL, 'null', `${APP}.evil.example`, 'http://app.hermes.test']) {
      const res = await preflight('/api/v1/contracts', origin);
      expect(res.status, origin).toBe(403);
      expect(res.headers.get('access-control-allow-origin'), origin).toBeNull();
      expect(res.headers.get('access-control-allow-methods'), origin).toBeNull();
      expect(res.headers.get('access-control-allow-headers'), origin).toBeNull();
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('FORBIDDEN');
    }
  });

  it('refuses a browser on the Stripe webhook, an allowed origin too: it is server-to-server', async () => {
    const res = await preflight('/api/v1/webhooks/stripe', APP, 'POST', 'content-type,stripe-signature');
    expect(res.status).toBe(403);
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('CORS on answers', () => {
  it('lets an allowed page read answers and the headers the API sets: X-Request-Id, Location, Idempotent-Replayed', async () => {
    const user = await registerUser(platform.api);
    const get = await fetch(`${platform.base}/api/v1/contracts`, { headers: { Origin: APP, Authorization: `Bearer ${user.token}` } });
    expect(get.status).toBe(200);
    expect(get.headers.get('access-control-allow-origin')).toBe(APP);
    expect(get.headers.get('access-control-allow-credentials')).toBeNull();
    expect(list(get.headers.get('access-control-expose-headers'))).toEqual(
      expect.arrayContaining(['retry-after', 'x-request-id', 'location', 'idempotent-replayed']),
    );
    expect(get.headers.get('x-request-id')).toBeTruthy();

    const post = () =>
      fetch(`${platform.base}/api/v1/contracts`, {
        method: 'POST',
        headers: { Origin: APP, Authorization: `Bearer ${user.token}`, 'Content-Type': 'application/json', 'Idempotency-Key': key },
        body: JSON.stringify({ intent: 'Summarise these 40 PDFs', reward_cents: 5_000, bidding_window_seconds: 300 }),
      });
    const key = randomUUID();
    const created = await post();
    expect(created.status).toBe(201);
    expect(created.headers.get('access-control-allow-origin')).toBe(APP);
    expect(created.headers.get('location')).toMatch(/^\/api\/v1\/contracts\//);
    const replayed = await post();
    expect(replayed.status).toBe(201);
    expect(replayed.headers.get('idempotent-replayed')).toBe('true');
    expect(replayed.headers.get('access-control-allow-origin')).toBe(APP);
  });

  it('lets an allowed page read refusals too (401, 404, 400)', async () => {
    const unauthenticated = await fetch(`${platform.base}/api/v1/contracts`, { headers: { Origin: APP } });
    expect(unauthenticated.status).toBe(401);
    expect(unauthenticated.headers.get('access-control-allow-origin')).toBe(APP);
    const missing = await fetch(`${platform.base}/api/v1/no-such-route`, { headers: { Origin: APP } });
    expect(missing.status).toBe(404);
    expect(missing.headers.get('access-control-allow-origin')).toBe(APP);
    const bad = await fetch(`${platform.base}/api/v1/auth/login`, { method: 'POST', headers: { Origin: APP, 'Content-Type': 'application/json' }, body: '{' });
    expect(bad.status).toBe(400);
    expect(bad.headers.get('access-control-allow-origin')).toBe(APP);
  });

  it('gives an unknown origin, no origin, and the webhook no CORS headers', async () => {
    const evil = await fetch(`${platform.base}/api/v1/agents`, { headers: { Origin: EVIL } });
    expect(evil.headers.get('access-control-allow-origin')).toBeNull();
    expect(evil.headers.get('access-control-expose-headers')).toBeNull();
    const plain = await fetch(`${platform.base}/api/v1/agents`);
    expect(plain.status).toBe(200);
    expect(plain.headers.get('access-control-allow-origin')).toBeNull();
    const webhook = await fetch(`${platform.base}/api/v1/webhooks/stripe`, { method: 'POST', headers: { Origin: APP, 'Content-Type': 'application/json' }, body: '{}' });
    expect(webhook.status).toBe(400);
    expect(webhook.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('Socket.IO by origin', () => {
  const handshake = (origin?: string) =>
    fetch(`${platform.base}/socket.io/?EIO=4&transport=polling`, { headers: origin ? { Origin: origin } : {} });

  it('answers a long-polling handshake from an allowed origin with CORS, refuses another origin', async () => {
    const allowed = await handshake(APP);
    expect(allowed.status).toBe(200);
    expect(allowed.headers.get('access-control-allow-origin')).toBe(APP);
    expect(allowed.headers.get('access-control-allow-credentials')).toBeNull();
    expect(await allowed.text()).toContain('"sid"');

    const refused = await handshake(EVIL);
    expect(refused.status).toBe(403);
    expect(refused.headers.get('access-control-allow-origin')).toBeNull();
    expect(await refused.text()).not.toContain('"sid"');

    // No Origin: not a browser (the agent SDK, a server); its credentials decide later.
    expect((await handshake()).status).toBe(200);
  });

  function open(origin: string | undefined, token: string) {
    const socket = connect(platform.base, {
      auth: { token },
      transports: ['websocket'],
      extraHeaders: origin ? { Origin: origin } : {},
      reconnection: false,
      forceNew: true,
    });
    sockets.push(socket);
    const outcome = { ready: false, error: undefined as Error | undefined };
    socket.on('ready', () => (outcome.ready = true));
    socket.on('connect_error', (err) => (outcome.error = err));
    return outcome;
  }

  it('refuses a websocket upgrade from an unknown origin even with valid credentials; accepts an allowed one', async () => {
    const user = await registerUser(platform.api);
    const refused = open(EVIL, user.token);
    const accepted = open(APP, user.token);
    await eventually(() => expect(accepted.ready).toBe(true));
    await eventually(() => expect(refused.error).toBeDefined());
    expect(refused.ready).toBe(false);
  });
});

describe('security headers', () => {
  it('are on every answer: JSON, refusals and preflights', async () => {
    const answers = [
      await fetch(`${platform.base}/api/v1/agents`),
      await fetch(`${platform.base}/api/v1/contracts`, { headers: { Origin: APP } }),
      await preflight('/api/v1/contracts', APP),
      await preflight('/api/v1/contracts', EVIL),
      await fetch(`${platform.base}/health`),
    ];
    for (const res of answers) {
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp).toContain("default-src 'self'");
      expect(csp).toContain("script-src 'self';");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).not.toContain('unsafe-eval');
      expect(csp).not.toContain('upgrade-insecure-requests');
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('x-frame-options')).toBe('DENY');
      expect(res.headers.get('referrer-policy')).toBe('no-referrer');
      expect(res.headers.get('strict-transport-security')).toMatch(/max-age=\d+/);
      expect(res.headers.get('cross-origin-opener-policy')).toBe('same-origin');
      expect(res.headers.get('x-powered-by')).toBeNull();
    }
  });
});
