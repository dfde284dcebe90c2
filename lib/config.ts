import { existsSync } from 'node:fs';
import { z } from 'zod';

// Every setting Hermes reads, validated once at start-up. Each service URL can point at a
// managed service; the defaults are the local stack that `npm start` brings up.
const DEV_JWT_SECRET = 'hermes-local-development-secret-change-me';

const seconds = (fallback: number) => z.coerce.number().int().positive().default(fallback);

// Browser origins allowed to call the API and Socket.IO: the local frontend dev servers (Vite
// on 5173; a Next/CRA dev server on 3001, beside the API on 3000). Anything else, production's
// frontend included, is named in CORS_ORIGINS; an empty value allows no browser origin at all.
const DEV_CORS_ORIGINS = 'http://localhost:5173,http://127.0.0.1:5173,http://localhost:3001,http://127.0.0.1:3001';

// Each entry must be an origin exactly as a browser sends it in `Origin` (scheme://host[:port]),
// since matching is by string equality; `*` is refused, this is an allow-list.
const origins = z
  .string()
  .default(DEV_CORS_ORIGINS)
  .transform((value, ctx) => {
    const list = value.split(',').map((s) => s.trim()).filter(Boolean);
    for (const entry of list) {
      const url = URL.canParse(entry) ? new URL(entry) : undefined;
      if (!url || !['http:', 'https:'].includes(url.protocol) || url.origin !== entry) {
        ctx.addIssue({ code: 'custom', message: `"${entry}" is not an origin like https://app.example.com (scheme, host, port if not the default; no path, no trailing slash, no *)` });
      }
    }
    return Object.freeze([...new Set(list)]);
  });

const schema = z
  .object({
    NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),

    API_HOST: z.string().default('127.0.0.1'),
    API_PORT: z.coerce.number().int().min(0).max(65535).default(3000),
    API_BODY_LIMIT: z.string().default('1mb'),
    CORS_ORIGINS: origins,
    // How long a request waits for Temporal (an update's answer) before it is a 503 the client
    // retries with the same Idempotency-Key; the update itself may still take effect.
    API_TEMPORAL_TIMEOUT_SECONDS: seconds(20),

    DATABASE_URL: z.string().url().default('postgres://hermes:hermes@127.0.0.1:54320/hermes'),
    DATABASE_POOL_MAX: z.coerce.number().int().positive().default(10),
    REDIS_URL: z.string().url().default('redis://127.0.0.1:63790'),

    TEMPORAL_ADDRESS: z.string().default('127.0.0.1:7233'),
    TEMPORAL_NAMESPACE: z.string().default('default'),
    TEMPORAL_TASK_QUEUE: z.string().default('hermes-main'),
    TEMPORAL_UI_URL: z.string().url().default('http://127.0.0.1:8233'),
    // A prebuilt bundle of the workflow code (`npm run build:workflows`): the worker starts in
    // seconds instead of webpacking the workflows at every start.
    WORKFLOW_BUNDLE_PATH: z
      .string()
      .refine((path) => existsSync(path), 'no file there; build it with `npm run build:workflows -- <path>`')
      .optional(),
    // Workflow tasks one main worker holds at once. They run one at a time on its workflow
    // thread; a task held but not yet run still counts against the task's 10 s timeout, so a
    // worker that took many at once (the SDK's default is 40) after a restart, replaying every
    // open contract, timed them out, and Temporal backed off retrying them for minutes.
    WORKER_WORKFLOW_TASK_SLOTS: z.coerce.number().int().min(2).default(4),

    STRIPE_SECRET_KEY: z.string().startsWith('sk_').default('sk_test_hermeslocal'),
    // Unset in production (the SDK talks to api.stripe.com); set to stripe-mock locally.
    STRIPE_API_URL: z.string().url().optional(),
    // Used for escrow when a user has saved no payment method: a Stripe test method locally.
    // Leave it empty in production, where a paid contract needs the user's own method.
    STRIPE_DEFAULT_PAYMENT_METHOD: z.string().default('pm_card_visa'),
    STRIPE_WEBHOOK_SECRET: z.string().startsWith('whsec_').default('whsec_hermeslocal'),
    // Webhooks older than this are refused (replay protection).
    STRIPE_WEBHOOK_TOLERANCE_SECONDS: seconds(300),
    // Card holds lapse after ~7 days: capture into escrow on the platform before then.
    ESCROW_CAPTURE_AFTER_SECONDS: seconds(6 * 24 * 3600),
    // How long a payment needing customer action (3-D Secure) may take before the contract fails.
    ESCROW_ACTION_TIMEOUT_SECONDS: seconds(3600),
    CURRENCY: z.string().length(3).toLowerCase().default('usd'),

    JWT_SECRET: z.string().min(32).default(DEV_JWT_SECRET),
    JWT_ISSUER: z.string().default('hermes'),
    JWT_TTL_SECONDS: seconds(12 * 3600),

    // S3 for agent binaries. Locally SeaweedFS; against AWS leave S3_ENDPOINT unset and the
    // SDK's normal credential chain applies when the keys are unset too.
    S3_ENDPOINT: z.string().url().optional(),
    S3_REGION: z.string().default('us-east-1'),
    S3_BUCKET: z.string().min(3).default('hermes-agents'),
    S3_ACCESS_KEY_ID: z.string().optional(),
    S3_SECRET_ACCESS_KEY: z.string().optional(),
    S3_FORCE_PATH_STYLE: z
      .enum(['true', 'false'])
      .default('true')
      .transform((v) => v === 'true'),

    // The wasmtime sandbox: where the addon is, and the limits of one run.
    SANDBOX_ADDON_PATH: z.string().default(new URL('../sandbox/build/hermes_sandbox.node', import.meta.url).pathname),
    SANDBOX_TASK_QUEUE: z.string().default('hermes-sandbox'),
    SANDBOX_CACHE_DIR: z.string().default(`${process.env.HOME ?? '/tmp'}/.cache/hermes/binaries`),
    SANDBOX_MODULE_CACHE: z.coerce.number().int().positive().default(64),
    SANDBOX_MAX_UPLOAD_BYTES: z.coerce.number().int().positive().default(16 * 1024 * 1024),
    SANDBOX_FUEL: z.coerce.number().int().positive().default(2_000_000_000),
    // fuel: count and budget wasmtime fuel (SANDBOX_FUEL) besides the deadline; epoch: the
    // deadline (epoch interruption) only, the run's cost is its CPU time. README, "Sandbox".
    SANDBOX_METERING: z.enum(['fuel', 'epoch']).default('fuel'),
    // Instance slots of wasmtime's pooling allocator per sandbox (0: map per run).
    SANDBOX_POOL_SIZE: z.coerce.number().int().min(0).max(10_000).default(64),
    SANDBOX_MEMORY_BYTES: z.coerce.number().int().positive().default(128 * 1024 * 1024),
    SANDBOX_OUTPUT_BYTES: z.coerce.number().int().positive().default(1024 * 1024),
    SANDBOX_MIN_TIMEOUT_SECONDS: seconds(5),
    SANDBOX_MAX_TIMEOUT_SECONDS: seconds(300),
    SANDBOX_CONCURRENCY: z.coerce.number().int().positive().default(2),
    // Compiling an upload (to validate it) happens in a child process of the API with these
    // bounds (lib/module-compiler.ts): past the time or the memory (the child's peak RSS, Node
    // and the addon's ~80 MiB included) the upload is 413 MODULE_TOO_COMPLEX; past
    // CONCURRENCY compiling and QUEUE waiting it is 503 with Retry-After.
    SANDBOX_COMPILE_TIMEOUT_SECONDS: z.coerce.number().positive().max(600).default(15),
    SANDBOX_COMPILE_MEMORY_MB: z.coerce.number().int().min(128).default(512),
    SANDBOX_COMPILE_THREADS: z.coerce.number().int().min(1).max(64).default(1),
    SANDBOX_COMPILE_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(2),
    SANDBOX_COMPILE_QUEUE: z.coerce.number().int().min(0).max(1000).default(8),
    SANDBOX_COMPILE_NICE: z.coerce.number().int().min(0).max(19).default(10),
    // Acceptance checks (README, "Acceptance checks"): the limits of one verifier run, apart
    // from the agents' (a verifier that hits one is an `error`, not the agent's failure), and
    // the largest output_schema a contract may declare (bytes of its JSON).
    VERIFIER_FUEL: z.coerce.number().int().positive().default(500_000_000),
    VERIFIER_MEMORY_BYTES: z.coerce.number().int().positive().default(64 * 1024 * 1024),
    VERIFIER_TIMEOUT_SECONDS: z.coerce.number().int().positive().max(120).default(10),
    VERIFIER_OUTPUT_BYTES: z.coerce.number().int().positive().max(1024 * 1024).default(64 * 1024),
    ACCEPTANCE_SCHEMA_MAX_BYTES: z.coerce.number().int().positive().max(1024 * 1024).default(64 * 1024),
    // How long the API may spend compiling a contract's output_schema (in a thread, off its
    // event loop) before refusing it as too complex.
    ACCEPTANCE_SCHEMA_COMPILE_SECONDS: z.coerce.number().positive().max(60).default(2),

    // Real-time events kept in the Redis stream for reconnecting clients to catch up on.
    EVENTS_RETENTION: z.coerce.number().int().positive().default(100_000),
    // An event an API instance took from the stream and did not finish relaying (it stopped or
    // died mid-batch) is taken over by another instance after this long.
    EVENT_RELAY_RECLAIM_SECONDS: z.coerce.number().positive().max(3600).default(10),
    // Agents heartbeat about every 30 s; missing them for this long makes an agent offline.
    PRESENCE_TTL_SECONDS: z.coerce.number().int().positive().default(90),

    // When the nightly trust recompute runs (cron, UTC).
    TRUST_RECOMPUTE_CRON: z.string().default('0 3 * * *'),
    // How many times a failed award may pass to the next-ranked bid before the contract fails.
    MAX_REAWARDS: z.coerce.number().int().min(0).max(10).default(2),

    PLATFORM_FEE_BPS: z.coerce.number().int().min(0).max(10_000).default(1000),
    REVIEW_WINDOW_SECONDS: seconds(72 * 3600),
    MANUAL_AWARD_WINDOW_SECONDS: seconds(72 * 3600),

    // How long an API process may answer from its cache of API-key and user lookups when it
    // missed a revocation (api/auth-cache.ts); 0 turns the cache off.
    AUTH_CACHE_TTL_SECONDS: z.coerce.number().int().min(0).default(15),
    RATE_LIMIT_USER_PER_MINUTE: z.coerce.number().int().positive().default(100),
    RATE_LIMIT_AGENT_PER_MINUTE: z.coerce.number().int().positive().default(1000),
    // Login/registration attempts per client address; public discovery reads per address.
    RATE_LIMIT_AUTH_PER_MINUTE: z.coerce.number().int().positive().default(30),
    RATE_LIMIT_PUBLIC_PER_MINUTE: z.coerce.number().int().positive().default(600),

    // Operators' /metrics (README, Operating Hermes): with a token, a scrape sends it as a
    // bearer token; without one, only clients on this machine are answered, and in production none.
    METRICS_TOKEN: z.string().min(16).optional(),
    // Where each worker serves its /metrics (with the Temporal SDK's figures); 0 turns a
    // worker's metrics off. Two workers of a kind on one machine need a port each.
    METRICS_HOST: z.string().default('127.0.0.1'),
    WORKER_METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(9470),
    SANDBOX_METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(9471),
    // Gauges read from Postgres are refreshed at most this often, however many scrapers ask.
    METRICS_DB_REFRESH_SECONDS: z.coerce.number().min(0).default(10),
  })
  .superRefine((c, ctx) => {
    if (c.NODE_ENV === 'production' && c.JWT_SECRET === DEV_JWT_SECRET) {
      ctx.addIssue({ code: 'custom', path: ['JWT_SECRET'], message: 'must be set in production' });
    }
    if ((c.S3_ACCESS_KEY_ID === undefined) !== (c.S3_SECRET_ACCESS_KEY === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['S3_SECRET_ACCESS_KEY'], message: 'set both S3 keys or neither' });
    }
    if (c.SANDBOX_MIN_TIMEOUT_SECONDS > c.SANDBOX_MAX_TIMEOUT_SECONDS) {
      ctx.addIssue({ code: 'custom', path: ['SANDBOX_MIN_TIMEOUT_SECONDS'], message: 'must not exceed SANDBOX_MAX_TIMEOUT_SECONDS' });
    }
    if (c.NODE_ENV === 'production' && c.STRIPE_WEBHOOK_SECRET === 'whsec_hermeslocal') {
      ctx.addIssue({ code: 'custom', path: ['STRIPE_WEBHOOK_SECRET'], message: 'must be set in production' });
    }
    if (c.NODE_ENV === 'production' && c.STRIPE_SECRET_KEY === 'sk_test_hermeslocal') {
      ctx.addIssue({ code: 'custom', path: ['STRIPE_SECRET_KEY'], message: 'must be set in production' });
    }
  });

export type Config = Readonly<z.infer<typeof schema>>;

export class ConfigError extends Error {}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Config> = {}): Config {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  return Object.freeze({ ...parsed.data, ...overrides });
}
