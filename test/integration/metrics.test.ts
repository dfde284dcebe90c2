import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import type { IncomingMessage, Server } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { createApp } from '../../api/app';
import { metricsAccess, serveMetrics } from '../../lib/metrics-server';
import { eventually } from '../support/eventually';
import { postContract, registerUser, startPlatform, uploadAgent, waitForContract, type Api, type Platform } from '../support/platform';
import { exampleAgent, fixture } from '../support/wasm';

// What an operator scrapes: the API's /metrics after real contracts went through it, the
// figures the worker processes record, and a worker process's own /metrics with the Temporal
// SDK's figures. Gauges are read from Postgres on every scrape here (no refresh interval).
let platform: Platform;
let api: Api;
beforeAll(async () => {
  platform = await startPlatform({ METRICS_DB_REFRESH_SECONDS: 0 });
  api = platform.api;
});
afterAll(async () => platform?.close());

type Labels = Record<string, string>;
/** The samples of one metric in a Prometheus text exposition, with their labels. */
function samples(text: string, name: string): { labels: Labels; value: number }[] {
  const out: { labels: Labels; value: number }[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const labels: Labels = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ labels, value: Number(m[3]) });
  }
  return out;
}
/** The sum of a metric's samples whose labels include `match`. */
function total(text: string, name: string, match: Labels = {}): number {
  return samples(text, name)
    .filter((s) => Object.entries(match).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}

async function scrape(base: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${base}/metrics`, { headers });
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
}

/** A contract won by a WASM agent's single bid, bidding closed: the sandbox runs it next. */
async function wasmContract(wasm: Buffer) {
  const user = await registerUser(api);
  const owner = await registerUser(api, 'Owner');
  const up = await uploadAgent(platform.base, owner.token, wasm, { name: 'metered', capabilities: 'text', price_cents: '1500' });
  expect(up.status).toBe(201);
  const id = await postContract(api, user.token, { intent: 'Statistics, please', context: { text: 'Operators watch. Hermes counts.' }, required_capabilities: ['text'] });
  const bid = await api('POST', '/api/v1/mesh/bid', { apiKey: up.body.api_key, body: { contract_id: id, price_cents: 1_500, eta_seconds: 30, confidence: 0.9 } });
  expect(bid.status).toBe(201);
  expect((await api('POST', `/api/v1/contracts/${id}/close-bidding`, { token: user.token })).status).toBe(200);
  return { user, id, apiKey: up.body.api_key as string };
}

describe('GET /metrics on the API, after contracts went through it', () => {
  let settledId: string;
  let bidderKey: string;
  beforeAll(async () => {
    const settled = await wasmContract(exampleAgent('text-stats'));
    await waitForContract(api, settled.user.token, settled.id, 'DELIVERED');
    expect((await api('POST', `/api/v1/contracts/${settled.id}/accept`, { token: settled.user.token, body: { rating: 5 } })).status).toBe(200);
    await waitForContract(api, settled.user.token, settled.id, 'SETTLED');
    settledId = settled.id;
    bidderKey = settled.apiKey;
    const failed = await wasmContract(fixture('trap'));
    await waitForContract(api, failed.user.token, failed.id, 'FAILED');
  });

  it('counts requests by route template, method and status, never by raw path', async () => {
    const { status, type, text } = await scrape(platform.base);
    expect(status).toBe(200);
    expect(type).toMatch(/^text\/plain; version=0\.0\.4/);
    // Database gauges are all read before the first scrape renders (prom-client collects in parallel).
    expect(samples(text, 'hermes_ledger_balance_cents').length).toBeGreaterThan(0);
    expect(samples(text, 'hermes_contracts')).toHaveLength(8);
    expect(total(text, 'hermes_http_requests_total', { route: '/api/v1/contracts/:id', method: 'GET', status: '200' })).toBeGreaterThan(0);
    expect(total(text, 'hermes_http_requests_total', { route: '/api/v1/contracts', method: 'POST', status: '201' })).toBeGreaterThanOrEqual(2);
    expect(total(text, 'hermes_http_request_duration_seconds_count', { route: '/api/v1/contracts/:id/accept', method: 'POST' })).toBe(1);
    // A path no route has is one label value, whatever the path.
    await api('GET', `/api/v1/no-such-thing/${randomUUID()}`);
    const after = (await scrape(platform.base)).text;
    expect(total(after, 'hermes_http_requests_total', { route: 'unmatched', status: '404' })).toBeGreaterThan(0);
    expect(after).not.toContain(settledId);
    // A browser's preflight is answered before routing: its own label, not `unmatched`.
    const before = total(after, 'hermes_http_requests_total', { route: 'preflight', method: 'OPTIONS' });
    await fetch(`${platform.base}/api/v1/contracts/${randomUUID()}`, {
      method: 'OPTIONS',
      headers: { Origin: 'https://elsewhere.example', 'Access-Control-Request-Method': 'POST' },
    });
    const later = (await scrape(platform.base)).text;
    expect(total(later, 'hermes_http_requests_total', { route: 'preflight', method: 'OPTIONS' })).toBe(before + 1);
  });

  it('times the bid and review updates by result, and reads contracts and the ledger from Postgres', async () => {
    // A bid on a contract that has settled: Temporal answers, and the answer is no.
    const late = await api('POST', '/api/v1/mesh/bid', { apiKey: bidderKey, body: { contract_id: settledId, price_cents: 1_000, eta_seconds: 30, confidence: 0.9 } });
    expect(late.status).toBe(409);
    const { text } = await scrape(platform.base);
    expect(total(text, 'hermes_contract_update_duration_seconds_count', { update: 'submitBid', result: 'accepted' })).toBeGreaterThanOrEqual(2);
    expect(total(text, 'hermes_contract_update_duration_seconds_count', { update: 'submitBid', result: 'rejected' })).toBeGreaterThanOrEqual(1);
    expect(total(text, 'hermes_contract_update_duration_seconds_count', { update: 'accept', result: 'accepted' })).toBe(1);

    expect(total(text, 'hermes_contracts', { status: 'SETTLED' })).toBeGreaterThanOrEqual(1);
    expect(total(text, 'hermes_contracts', { status: 'FAILED' })).toBeGreaterThanOrEqual(1);
    // The platform's fees from every settlement so far (other files' too), this one's 10% of $15.00 included.
    expect(Math.abs(total(text, 'hermes_ledger_balance_cents', { account: 'platform_revenue', currency: 'usd' }))).toBeGreaterThanOrEqual(150);
    expect(samples(text, 'hermes_agent_wallets_balance_cents').length).toBeGreaterThan(0);
    expect(samples(text, 'process_cpu_seconds_total').length).toBe(1);
  });

  it('is for operators: a token when one is set, else this machine only, and never tokenless in production', async () => {
    const token = 'metrics-token-0123456789';
    const server: Server = createApp({ ...platform.deps, config: { ...platform.config, METRICS_TOKEN: token } }).listen(0, '127.0.0.1');
    await once(server, 'listening');
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const none = await scrape(base);
      expect(none.status).toBe(401);
      expect(JSON.parse(none.text).error.code).toBe('UNAUTHENTICATED');
      expect((await scrape(base, { Authorization: 'Bearer wrong-token-0123456789' })).status).toBe(401);
      expect((await scrape(base, { Authorization: `Bearer ${token}` })).status).toBe(200);
    } finally {
      server.close();
    }
    const from = (remoteAddress: string, authorization?: string) =>
      ({ socket: { remoteAddress }, headers: authorization ? { authorization } : {} }) as unknown as IncomingMessage;
    expect(metricsAccess(from('127.0.0.1'), undefined, true)).toBe('ok');
    expect(metricsAccess(from('::ffff:127.0.0.1'), undefined, true)).toBe('ok');
    expect(metricsAccess(from('10.1.2.3'), undefined, true)).toBe('forbidden');
    expect(metricsAccess(from('127.0.0.1'), undefined, false)).toBe('forbidden');
    expect(metricsAccess(from('10.1.2.3', `Bearer ${token}`), token, false)).toBe('ok');
  });
});

describe("the workers' figures", () => {
  it('count contracts started and ended by status and reason, escrow operations, and sandbox runs with duration and fuel', async () => {
    const settled = await wasmContract(exampleAgent('text-stats'));
    await waitForContract(api, settled.user.token, settled.id, 'DELIVERED');
    await api('POST', `/api/v1/contracts/${settled.id}/accept`, { token: settled.user.token, body: { rating: 4 } });
    await waitForContract(api, settled.user.token, settled.id, 'SETTLED');
    const failed = await wasmContract(fixture('exit-code'));
    await waitForContract(api, failed.user.token, failed.id, 'FAILED');

    // Served as a worker process serves them, on a port of its own.
    const worker = (await serveMetrics({ registry: platform.registries.worker, host: '127.0.0.1', port: 0, token: undefined, allowLocal: true, log: platform.deps.log }))!;
    const sandbox = (await serveMetrics({ registry: platform.registries.sandbox, host: '127.0.0.1', port: 0, token: undefined, allowLocal: true, log: platform.deps.log }))!;
    try {
      const w = await (await fetch(worker.url)).text();
      expect(total(w, 'hermes_contracts_started_total')).toBeGreaterThanOrEqual(4);
      expect(total(w, 'hermes_contracts_ended_total', { status: 'SETTLED', failure_reason: 'none' })).toBeGreaterThanOrEqual(2);
      expect(total(w, 'hermes_contracts_ended_total', { status: 'FAILED', failure_reason: 'execution_failed' })).toBeGreaterThanOrEqual(2);
      // A settlement captures in its own step (settle); capture counts only early captures.
      for (const kind of ['hold', 'settle', 'void']) {
        expect(total(w, 'hermes_escrow_operations_total', { kind, result: 'ok' }), kind).toBeGreaterThanOrEqual(1);
        expect(total(w, 'hermes_escrow_operation_duration_seconds_count', { kind }), kind).toBeGreaterThanOrEqual(1);
      }
      // Read from Postgres when scraped; the relay's own figures depend on which file's relay leads.
      expect(samples(w, 'hermes_outbox_oldest_unpublished_age_seconds')).toHaveLength(1);
      expect(samples(w, 'hermes_outbox_relay_leading')).toHaveLength(1);

      const s = await (await fetch(sandbox.url)).text();
      expect(total(s, 'hermes_sandbox_runs_total', { outcome: 'ok' })).toBeGreaterThanOrEqual(2);
      expect(total(s, 'hermes_sandbox_runs_total', { outcome: 'trap' })).toBeGreaterThanOrEqual(1);
      expect(total(s, 'hermes_sandbox_runs_total', { outcome: 'exit_nonzero' })).toBeGreaterThanOrEqual(1);
      expect(total(s, 'hermes_sandbox_run_duration_seconds_count', { outcome: 'ok' })).toBeGreaterThanOrEqual(2);
      expect(total(s, 'hermes_sandbox_run_fuel_sum', { outcome: 'ok' })).toBeGreaterThan(0);
      expect(total(s, 'hermes_sandbox_run_fuel_bucket', { outcome: 'ok', le: '+Inf' })).toBeGreaterThanOrEqual(2);
      expect(total(s, 'hermes_sandbox_run_cpu_seconds_sum', { outcome: 'ok' })).toBeGreaterThan(0);
      expect(total(s, 'hermes_sandbox_run_cpu_seconds_count', { outcome: 'ok' })).toBeGreaterThanOrEqual(2);
    } finally {
      await Promise.all([worker.close(), sandbox.close()]);
    }
  });
});

// The processes themselves, as `npm start` runs them: each installs the SDK runtime with its
// Prometheus exporter before connecting, and its /metrics carries the SDK's temporal_ figures.
describe('a worker process', () => {
  const root = fileURLToPath(new URL('../../', import.meta.url));
  const children: ChildProcess[] = [];
  afterAll(async () => {
    await Promise.all(
      children.map(async (c) => {
        if (c.exitCode !== null || c.signalCode !== null) return;
        c.kill('SIGTERM');
        await once(c, 'exit');
      }),
    );
  });

  async function freePort(): Promise<number> {
    const probe = createServer().listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const { port } = probe.address() as AddressInfo;
    await new Promise((r) => probe.close(r));
    return port;
  }

  function start(script: string, env: Record<string, string>) {
    const child = spawn(process.execPath, ['--import', 'tsx', script], {
      cwd: root,
      env: {
        ...process.env,
        // Task queues of their own: they must not take other test files' work.
        TEMPORAL_TASK_QUEUE: `test-metrics-${randomUUID()}`,
        SANDBOX_TASK_QUEUE: `test-metrics-sandbox-${randomUUID()}`,
        WORKFLOW_BUNDLE_PATH: inject('workflowBundlePath'),
        LOG_LEVEL: 'warn',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout!.on('data', (d) => (output += d));
    child.stderr!.on('data', (d) => (output += d));
    children.push(child);
    return { child, output: () => output };
  }

  it('serves its own metrics and the Temporal SDK’s on its port (main worker and sandbox worker)', async () => {
    const [workerPort, sandboxPort] = [await freePort(), await freePort()];
    const procs = [
      { ...start('workers/main.ts', { WORKER_METRICS_PORT: String(workerPort) }), port: workerPort, own: 'hermes_contracts_started_total' },
      { ...start('workers/sandbox.ts', { SANDBOX_METRICS_PORT: String(sandboxPort) }), port: sandboxPort, own: 'hermes_sandbox_runs_total' },
    ];
    for (const p of procs) {
      const text = await eventually(
        async () => {
          expect(p.child.exitCode, `exited: ${p.output()}`).toBeNull();
          const res = await fetch(`http://127.0.0.1:${p.port}/metrics`);
          expect(res.status).toBe(200);
          const body = await res.text();
          // The SDK's gauges appear once the worker polls its task queue.
          expect(body).toMatch(/^temporal_worker_task_slots_available\{/m);
          return body;
        },
        { timeout: 45_000, interval: 250, message: `metrics on :${p.port}` },
      );
      expect(text).toContain(`# HELP ${p.own} `);
      expect(text).toContain('hermes_temporal_sdk_metrics_up 1');
      expect(samples(text, 'process_resident_memory_bytes')).toHaveLength(1);
      expect((await fetch(`http://127.0.0.1:${p.port}/nope`)).status).toBe(404);
    }
  });
});
