import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { inject } from 'vitest';
import { createActivities } from '../../activities';
import { createApp } from '../../api/app';
import { createApiDeps } from '../../api/bootstrap';
import { attachRealtime } from '../../api/realtime';
import { loadConfig, type Config } from '../../lib/config';
import { activityMetrics, outboxBacklogGauges, relayMetrics, sandboxMetrics } from '../../lib/metrics';
import { Registry } from 'prom-client';
import { createStripe } from '../../lib/stripe';
import { WasmSandbox } from '../../sandbox';
import { createSandboxActivities } from '../../activities/execute-agent';
import { createMainWorker, createSandboxWorker } from '../../workers/create-worker';
import { startOutboxRelay } from '../../workers/outbox-relay';
import { eventually } from './eventually';
import { quietRuntime } from './temporal-env';

// A real API (on an ephemeral port), a real main worker and a real sandbox worker, against the
// services that scripts/test.sh started: Postgres, Redis, the Temporal dev server, stripe-mock
// and SeaweedFS. Each platform gets its own task queues so test files do not pick up each
// other's work.
export async function startPlatform(overrides: Partial<Config> = {}) {
  quietRuntime();
  const config = loadConfig(process.env, {
    TEMPORAL_TASK_QUEUE: `test-${randomUUID()}`,
    SANDBOX_TASK_QUEUE: `test-sandbox-${randomUUID()}`,
    SANDBOX_CACHE_DIR: `${process.env.TMPDIR ?? '/tmp'}/hermes-binaries-${randomUUID()}`,
    // Every test registers from 127.0.0.1 into one Redis: per-address limits would trip
    // across files. api-guards tests the limiter itself with a low limit of its own.
    RATE_LIMIT_USER_PER_MINUTE: 100_000,
    RATE_LIMIT_AUTH_PER_MINUTE: 100_000,
    RATE_LIMIT_PUBLIC_PER_MINUTE: 100_000,
    WORKFLOW_BUNDLE_PATH: inject('workflowBundlePath'),
    ...overrides,
  });
  const deps = await createApiDeps(config);
  const instance = await startApiInstance(deps);
  // What the worker processes would serve on their /metrics (the API's is deps.metrics).
  const registries = { worker: new Registry(), sandbox: new Registry() };
  const workerMetrics = activityMetrics(registries.worker);
  outboxBacklogGauges(registries.worker, { knex: deps.knex, log: deps.log });
  const mainWorker = () =>
    createMainWorker({
      config,
      activities: createActivities({ knex: deps.knex, stripe: createStripe(config), config, metrics: workerMetrics }),
    });
  let worker = await mainWorker();
  const sandboxWorker = await createSandboxWorker({
    config,
    // Its own sandbox, as in production where the API and the sandbox worker are separate
    // processes: a module the API compiled at upload is not in the worker's cache.
    activities: createSandboxActivities({
      knex: deps.knex,
      sandbox: WasmSandbox.load(config.SANDBOX_ADDON_PATH, {
        cacheCapacity: config.SANDBOX_MODULE_CACHE,
        metering: config.SANDBOX_METERING,
        poolSize: config.SANDBOX_POOL_SIZE,
      }),
      binaries: deps.binaries,
      config,
      metrics: sandboxMetrics(registries.sandbox),
    }),
  });
  let workerRun = worker.run();
  const sandboxRun = sandboxWorker.run();
  // As in the main worker process. Test files share the database, so one relay leads and the
  // others stand by, taking over quickly when its file ends.
  const relay = startOutboxRelay({ databaseUrl: config.DATABASE_URL, redis: deps.redis, retention: config.EVENTS_RETENTION, log: deps.log, standbyMs: 200, metrics: relayMetrics(registries.worker) });
  const base = instance.base;
  return {
    config,
    deps,
    base,
    instance,
    registries,
    api: apiClient(base),
    /** Stops the main worker, as a crash would: its contracts' work waits in Temporal. */
    async stopWorker() {
      worker.shutdown();
      await workerRun;
    },
    /** A new main worker on the same task queue, after stopWorker. */
    async startWorker() {
      worker = await mainWorker();
      workerRun = worker.run();
    },
    async close() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      sandboxWorker.shutdown();
      await Promise.all([workerRun, sandboxRun]);
      await relay.stop();
      await instance.close();
      await deps.close();
    },
  };
}
export type Platform = Awaited<ReturnType<typeof startPlatform>>;

/**
 * One API process's worth: an HTTP server with Socket.IO attached. A second one on the same
 * deps stands for a second API instance (its own Socket.IO server, adapter and relay consumer).
 */
export async function startApiInstance(deps: Awaited<ReturnType<typeof createApiDeps>>) {
  const server: Server = createApp(deps).listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const realtime = await attachRealtime(server, deps);
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    realtime,
    // Closing Socket.IO closes the HTTP server too.
    close: () => realtime.close(),
  };
}

export interface ApiResponse<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

export function apiClient(base: string) {
  return async function call<T = any>(
    method: string,
    path: string,
    opts: { token?: string; apiKey?: string; body?: unknown; rawBody?: string; headers?: Record<string, string> } = {},
  ): Promise<ApiResponse<T>> {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
    if (opts.apiKey) headers['X-API-Key'] = opts.apiKey;
    if (opts.body !== undefined || opts.rawBody !== undefined) headers['Content-Type'] = 'application/json';
    const res = await fetch(`${base}${path}`, {
      method,
      headers,
      body: opts.rawBody ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body)),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null, headers: res.headers };
  };
}
export type Api = ReturnType<typeof apiClient>;

/** multipart/form-data POST, the way a browser or `curl -F` uploads a binary. */
export async function uploadAgent(
  base: string,
  token: string,
  wasm: Uint8Array,
  fields: Record<string, string> = {},
  filename = 'agent.wasm',
): Promise<ApiResponse> {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  form.append('file', new Blob([wasm], { type: 'application/wasm' }), filename);
  const res = await fetch(`${base}/api/v1/agents/upload`, { method: 'POST', headers: { Authorization: `Bearer ${token}` }, body: form });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null, headers: res.headers };
}

// Builders that go through the API, the way a client would.
export async function registerUser(api: Api, name = 'Ada') {
  const email = `${name.toLowerCase()}-${randomUUID()}@example.com`;
  const res = await api('POST', '/api/v1/auth/register', { body: { email, password: 'correct horse battery', name } });
  if (res.status !== 201) throw new Error(`register failed: ${JSON.stringify(res.body)}`);
  return { id: res.body.user.id as string, email, token: res.body.token as string };
}

export async function registerAgent(api: Api, token: string, body: Record<string, unknown> = {}) {
  const res = await api('POST', '/api/v1/agents', { token, body: { name: 'summariser', capabilities: ['pdf', 'summarise'], ...body } });
  if (res.status !== 201) throw new Error(`agent failed: ${JSON.stringify(res.body)}`);
  return { id: res.body.agent.id as string, apiKey: res.body.api_key as string };
}

export async function postContract(api: Api, token: string, body: Record<string, unknown> = {}) {
  const res = await api('POST', '/api/v1/contracts', {
    token,
    body: { intent: 'Summarise these 40 PDFs', reward_cents: 5_000, bidding_window_seconds: 300, ...body },
  });
  if (res.status !== 201) throw new Error(`contract failed: ${JSON.stringify(res.body)}`);
  return res.body.id as string;
}

/** The contract as GET shows it once it has `status`; fails naming the status it was stuck in. */
export async function waitForContract(api: Api, token: string, id: string, status: string, timeoutMs = 30_000) {
  return eventually(
    async () => {
      const { body } = await api('GET', `/api/v1/contracts/${id}`, { token });
      if (body?.status !== status) throw new Error(`contract ${id} is ${body?.status} (${JSON.stringify(body?.status_detail)}), not ${status}`);
      return body;
    },
    { timeout: timeoutMs, interval: 100 },
  );
}
