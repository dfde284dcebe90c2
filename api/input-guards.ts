import type { Context, Next } from 'koa';
import { findTextProblem } from '../domain/text';
import { HttpError } from './errors';

// The API's boundary rules for what a request may carry, applied once for every route.

/** 400 naming the field when a value breaks the text rule (domain/text.ts). */
export function assertCleanInput(value: unknown, root = ''): void {
  const problem = findTextProblem(value, root);
  if (!problem) return;
  const field = problem.field || 'body';
  throw new HttpError('VALIDATION_ERROR', `${field}: ${problem.message}`, [{ field, message: problem.message }]);
}

// Bodies are JSON (or multipart where a route takes files); anything else is 415, not a
// confusing "field required".
export async function requireKnownMediaType(ctx: Context, next: Next): Promise<void> {
  // An empty POST (Content-Length: 0, as fetch sends it) has no type to judge.
  const hasBody = Boolean(ctx.request.length) || ctx.get('Transfer-Encoding') !== '';
  if (hasBody && ctx.is('json', 'multipart') === false) {
    throw new HttpError('UNSUPPORTED_MEDIA_TYPE', `Content-Type ${ctx.get('Content-Type') || '(none)'} is not supported: send application/json`, [
      { field: 'Content-Type' },
    ]);
  }
  await next();
}

// Path, query and JSON body, before any route sees them. The Stripe webhook is left to its
// own rule: it verifies the raw signed bytes and acknowledges what it cannot process.
export function cleanInput(opts: { rawBodyPrefixes: string[] }) {
  return async (ctx: Context, next: Next): Promise<void> => {
    let path = ctx.path;
    try {
      path = decodeURIComponent(ctx.path);
    } catch {
      throw new HttpError('VALIDATION_ERROR', 'path: not valid percent-encoded UTF-8', [{ field: 'path' }]);
    }
    assertCleanInput(path, 'path');
    assertCleanInput(ctx.query);
    if (!opts.rawBodyPrefixes.some((p) => ctx.path.startsWith(p))) assertCleanInput(ctx.request.body);
    await next();
  };
}
