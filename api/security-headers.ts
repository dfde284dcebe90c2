import helmet from 'koa-helmet';
import type { Middleware } from 'koa';

// Security headers on every answer (helmet). JSON runs nothing in a browser, so the policy is
// written for the one HTML page, the API docs at /api/v1/docs: a renderer served from our own
// npm dependency, so scripts, styles, fonts and its "try it" calls come from this origin only —
// no CDN, no inline script (its start-up code must be a file too). Inline styles are allowed:
// renderers set them, and CSS cannot run code. Nothing may frame the API or the docs.
export const CONTENT_SECURITY_POLICY = {
  'default-src': ["'self'"],
  'script-src': ["'self'"],
  'script-src-attr': ["'none'"],
  'style-src': ["'self'", "'unsafe-inline'"],
  'img-src': ["'self'", 'data:'],
  'font-src': ["'self'", 'data:'],
  'connect-src': ["'self'"],
  'object-src': ["'none'"],
  'base-uri': ["'self'"],
  'form-action': ["'self'"],
  'frame-ancestors': ["'none'"],
};

export function securityHeaders(): Middleware {
  return helmet({
    // helmet's defaults also add upgrade-insecure-requests, which would send the docs page's
    // own files to https:// on a plain-http local API; every URL it loads is relative anyway.
    contentSecurityPolicy: { useDefaults: false, directives: CONTENT_SECURITY_POLICY },
    frameguard: { action: 'deny' },
    // The rest as helmet sets them: nosniff, Referrer-Policy no-referrer, HSTS (honoured over
    // HTTPS only), Cross-Origin-Opener-Policy and -Resource-Policy same-origin (CORP binds
    // only no-cors loads such as <img>; CORS fetches from allowed origins are unaffected).
  });
}
