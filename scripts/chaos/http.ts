import { randomUUID } from 'node:crypto';
import { isDefinitive, type Exchange, type Journal } from './journal';
import { apiBase, settings } from './settings';
import { sleep } from './random';

export type Credentials = { token: string } | { apiKey: string } | { stripeSignature: (payload: string) => string } | Record<string, never>;

export interface CallOptions {
  actor: string;
  credentials: Credentials;
  body?: unknown;
  contractId?: string;
  sawStatus?: string;
  /** State-changing requests carry one; retries reuse it. Defaults to a fresh key for POSTs. */
  key?: string | null;
  probeOf?: number;
  keyReuse?: boolean;
}

export interface Answer {
  status: number;
  body: any;
  exchange: Exchange;
}

// A client as real ones behave: a timeout, a refused connection, a 5xx or a 429 is retried with
// the same Idempotency-Key (after Retry-After when given, else backing off) until a definitive
// answer or the budget runs out. Every try is written to the journal.
export function createHttp(journal: Journal) {
  async function call(method: string, path: string, opts: CallOptions): Promise<Answer> {
    const key = opts.key === null ? undefined : (opts.key ?? (method === 'POST' ? randomUUID() : undefined));
    const exchange = journal.open({
      actor: opts.actor,
      method,
      route: `${method} ${routeOf(path)}`,
      key,
      body: opts.body,
      contractId: opts.contractId,
      sawStatus: opts.sawStatus,
      probeOf: opts.probeOf,
      keyReuse: opts.keyReuse,
    });
    const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const started = Date.now();
    for (let n = 0; ; n++) {
      const headers: Record<string, string> = {};
      if (payload !== undefined) headers['Content-Type'] = 'application/json';
      if (key) headers['Idempotency-Key'] = key;
      const c = opts.credentials;
      if ('token' in c) headers.Authorization = `Bearer ${c.token}`;
      if ('apiKey' in c) headers['X-API-Key'] = c.apiKey;
      if ('stripeSignature' in c) headers['Stripe-Signature'] = c.stripeSignature(payload ?? '');
      const sentAt = Date.now();
      let retryAfter: string | null = null;
      try {
        const res = await fetch(`${apiBase}/api/v1${path}`, { method, headers, body: payload, signal: AbortSignal.timeout(settings.attemptTimeoutMs) });
        const text = await res.text();
        let body: any = null;
        try {
          body = text ? JSON.parse(text) : null;
        } catch {
          body = { unparsed: text.slice(0, 200) };
        }
        retryAfter = res.headers.get('Retry-After');
        exchange.attempts.push({
          sentAt,
          ms: Date.now() - sentAt,
          status: res.status,
          code: body?.error?.code,
          ...(res.status >= 500 && { message: String(body?.error?.message ?? body?.unparsed ?? '').slice(0, 200) }),
          retryAfter,
        });
        if (isDefinitive(res.status)) {
          // Polls are many and only their status matters afterwards: their bodies are not kept.
          exchange.final = { status: res.status, body: method === 'GET' ? null : body, at: Date.now() };
          return { status: res.status, body, exchange };
        }
      } catch (err) {
        const e = err as Error & { cause?: { code?: string } };
        const error = e.name === 'TimeoutError' ? 'timeout' : (e.cause?.code ?? e.name);
        exchange.attempts.push({ sentAt, ms: Date.now() - sentAt, status: 0, error });
      }
      if (Date.now() - started > settings.requestBudgetMs) {
        const last = exchange.attempts[exchange.attempts.length - 1]!;
        return { status: last.status, body: null, exchange };
      }
      const hinted = retryAfter !== null && /^\d+$/.test(retryAfter) ? Number(retryAfter) * 1000 : null;
      const backoff = Math.min(4000, 250 * 2 ** n);
      await sleep(Math.min(10_000, hinted ?? backoff) * (0.75 + Math.random() * 0.5));
    }
  }
  return { call };
}
export type Http = ReturnType<typeof createHttp>;

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;
const routeOf = (path: string) => path.split('?')[0]!.replace(UUID, ':id');
