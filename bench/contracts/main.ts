// `npm run bench:contracts` (scripts/bench-contracts.sh starts the stack): Hermes' contract
// lifecycle, bid round trip and read routes against fixed references on the same Temporal dev
// server and Postgres, with repetitions interleaved; prints ratios and CPU per contract by
// process. Settings: BENCH_* variables below.
import { Client, Connection, WorkflowUpdateFailedError } from '@temporalio/client';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { diff, snapshot, type CpuSnapshot } from './cpu';

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const settings = {
  reps: env('BENCH_REPS', 3),
  serial: env('BENCH_SERIAL_CONTRACTS', 8),
  parallel: env('BENCH_PARALLEL_CONTRACTS', 60),
  inFlight: env('BENCH_IN_FLIGHT', 20),
  bidRounds: env('BENCH_BID_ROUNDS', 150),
  readSeconds: env('BENCH_READ_SECONDS', 4),
  readConnections: env('BENCH_READ_CONNECTIONS', 10),
  apiPort: env('BENCH_API_PORT', 23359),
  barePort: env('BENCH_BARE_PORT', 23360),
};
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const apiBase = `http://127.0.0.1:${settings.apiPort}/api/v1`;
const say = (msg: string) => console.log(`[bench] ${msg}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---- processes ------------------------------------------------------------------------------

const children: ChildProcess[] = [];
process.on('exit', () => children.forEach((c) => c.kill('SIGKILL')));
for (const s of ['SIGINT', 'SIGTERM'] as const) process.once(s, () => process.exit(130));

// BENCH_PROFILE_DIR: the API, the main worker and the bare read server write V8 CPU profiles
// there when they exit
// (open them in Chrome DevTools or speedscope).
const PROFILE_DIR = process.env.BENCH_PROFILE_DIR;
const PROFILED = new Set(['api', 'worker', 'bare']);

function launch(name: string, script: string, extraEnv: Record<string, string>, ready: RegExp): Promise<ChildProcess> {
  const profile = PROFILE_DIR && PROFILED.has(name) ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`, `--cpu-prof-name=${name}.cpuprofile`] : [];
  const child = spawn(process.execPath, [...profile, '--import', 'tsx', script], {
    cwd: ROOT,
    env: { ...process.env, ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  let isReady = false;
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      if (isReady) return;
      out = (out + chunk.toString()).slice(-8192);
      if (ready.test(out)) {
        isReady = true;
        resolve(child);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${name} exited (${code}) before it was ready:\n${out}`)));
  });
}

const hermesEnv = {
  API_HOST: '127.0.0.1',
  API_PORT: String(settings.apiPort),
  LOG_LEVEL: 'warn',
  RATE_LIMIT_USER_PER_MINUTE: '100000000',
  RATE_LIMIT_AGENT_PER_MINUTE: '100000000',
  RATE_LIMIT_AUTH_PER_MINUTE: '100000000',
  RATE_LIMIT_PUBLIC_PER_MINUTE: '100000000',
  // 0: no metrics server, so a dev stack on the default ports is left alone.
  WORKER_METRICS_PORT: '0',
};
say('starting the API, the main worker, the reference worker and the bare read server');
const [api, worker, reference, bare] = await Promise.all([
  launch('api', 'api/main.ts', { ...hermesEnv, LOG_LEVEL: 'info' }, /listening/i),
  launch('worker', 'workers/main.ts', { ...hermesEnv, LOG_LEVEL: 'info' }, /worker started/),
  launch('reference', 'bench/contracts/reference-worker.ts', {}, /reference worker started/),
  launch('bare', 'bench/contracts/bare-reads.ts', { BARE_PORT: String(settings.barePort) }, /bare reads listening/),
]);
const pgPid = Number(readFileSync(`${process.env.BENCH_PG_DIR}/postmaster.pid`, 'utf8').split('\n')[0]);
const pids = {
  temporal: Number(process.env.BENCH_TEMPORAL_PID),
  worker: worker.pid!,
  api: api.pid!,
  postgres: pgPid,
  'stripe-mock': Number(process.env.BENCH_STRIPE_PID),
  reference: reference.pid!,
  bare: bare.pid!,
  bench: process.pid,
};

const connection = await Connection.connect({ address: process.env.TEMPORAL_ADDRESS });
const temporal = new Client({ connection });

// ---- the API as a client uses it --------------------------------------------------------------

const agentPool = new http.Agent({ keepAlive: true, maxSockets: 64 });

interface Answer {
  status: number;
  body: any;
}

function request(url: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: init.method ?? 'GET', headers: init.headers, agent: agentPool }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let body: any = text;
        try {
          body = text ? JSON.parse(text) : null;
        } catch {
          // not JSON
        }
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

type Who = { token: string } | { apiKey: string };

/** One call; 503 and 429 are retried after a short pause, as a client does. */
async function call(method: string, path: string, who: Who, body?: unknown): Promise<Answer> {
  const headers: Record<string, string> = { 'Content-Type': 'application/json' };
  if ('token' in who) headers.Authorization = `Bearer ${who.token}`;
  else headers['X-API-Key'] = who.apiKey;
  if (method === 'POST') headers['Idempotency-Key'] = randomUUID();
  for (;;) {
    const res = await request(`${apiBase}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    if (res.status !== 503 && res.status !== 429) return res;
    await sleep(100);
  }
}

async function must(method: string, path: string, who: Who, body?: unknown): Promise<any> {
  const res = await call(method, path, who, body);
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

// ---- setup ---------------------------------------------------------------------------------

async function register(name: string) {
  const res = await request(`${apiBase}/auth/register`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ email: `${name}-${randomUUID().slice(0, 8)}@bench.example.com`, password: 'bench password 123', name }),
  });
  if (res.status !== 201) throw new Error(`register: ${res.status} ${JSON.stringify(res.body)}`);
  return { token: res.body.token as string };
}
const owner = await register('owner');
const maker = await register('maker');
const agents: { apiKey: string }[] = [];
for (let i = 0; i < 20; i++) {
  const created = await must('POST', '/agents', maker, { name: `bench agent ${i}`, capabilities: ['bench'], price_cents: 100, description: 'an agent of the benchmark' });
  agents.push({ apiKey: created.api_key });
}
const agent = agents[0]!;

// ---- one contract, each way ----------------------------------------------------------------

const CONTRACT = { intent: 'benchmark contract', reward_cents: 1000, required_capabilities: ['bench'], bidding_window_seconds: 3600, delivery_window_seconds: 3600, review_window_seconds: 3600 };

/** Calls `attempt` every 25 ms until it is not refused (null); returns how many times it was. */
async function retryRefused(attempt: () => Promise<unknown>): Promise<number> {
  for (let refused = 0; ; refused++) {
    if ((await attempt()) !== null) return refused;
    await sleep(25);
  }
}

interface OneContract {
  ms: number;
  id: string;
  /** Deliveries refused because the work had not started yet (the client polls every 25 ms). */
  refused: number;
}

async function hermesContract(): Promise<OneContract> {
  const t0 = performance.now();
  const c = await must('POST', '/contracts', owner, CONTRACT);
  await must('POST', '/mesh/bid', agent, { contract_id: c.id, price_cents: 900, eta_seconds: 60, confidence: 0.9 });
  await must('POST', `/contracts/${c.id}/close-bidding`, owner);
  // Refused until the award (403 NOT_AWARDED_AGENT), escrow hold and IN_PROGRESS (409) are done.
  const refused = await retryRefused(async () => {
    const res = await call('POST', '/mesh/deliver', agent, { contract_id: c.id, output: { summary: 'benchmark delivery' } });
    if (res.status === 409 || res.body?.error?.code === 'NOT_AWARDED_AGENT') return null;
    if (res.status >= 300) throw new Error(`deliver: ${res.status} ${JSON.stringify(res.body)}`);
    return res;
  });
  await must('POST', `/contracts/${c.id}/accept`, owner, { rating: 5 });
  const outcome = await temporal.workflow.getHandle(c.workflow_id).result();
  if (outcome?.status !== 'SETTLED') throw new Error(`contract ${c.id} ended ${JSON.stringify(outcome)}`);
  return { ms: performance.now() - t0, id: c.id, refused };
}

async function referenceContract(): Promise<OneContract> {
  const t0 = performance.now();
  const h = await temporal.workflow.start('referenceContract', { taskQueue: 'bench-reference', workflowId: `reference-${randomUUID()}` });
  await h.executeUpdate('bid', { args: ['agent'] });
  await h.executeUpdate('closeBidding');
  const refused = await retryRefused(async () => {
    try {
      return await h.executeUpdate('deliver', { args: ['output'] });
    } catch (err) {
      if (err instanceof WorkflowUpdateFailedError) return null;
      throw err;
    }
  });
  await h.executeUpdate('accept', { args: [5] });
  await h.result();
  return { ms: performance.now() - t0, id: h.workflowId, refused };
}

// ---- measurements --------------------------------------------------------------------------

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
};
const median = (xs: number[]) => quantile(xs, 0.5);

interface Throughput {
  perSecond: number;
  p50: number;
  p99: number;
  cpu: CpuSnapshot;
  count: number;
  refused: number;
}

async function throughput(one: () => Promise<OneContract>, count: number, inFlight: number): Promise<Throughput> {
  const before = snapshot(pids);
  const t0 = performance.now();
  const latencies: number[] = [];
  let next = 0;
  let refused = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < count) {
        next++;
        const done = await one();
        latencies.push(done.ms);
        refused += done.refused;
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  return { perSecond: count / seconds, p50: median(latencies), p99: quantile(latencies, 0.99), cpu: diff(snapshot(pids), before), count, refused };
}

/** Sequential round trips of `one`, in ms. */
async function roundTrips(one: () => Promise<unknown>, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await one();
    out.push(performance.now() - t0);
  }
  return out;
}

interface Load {
  perSecond: number;
  /** CPU per request (ms) of the server that answered, Postgres and this process (the client). */
  cpu: { server: number; postgres: number; client: number };
}

/** Requests per second with `connections` clients, each sending the next request on the answer. */
async function load(url: string, headers: Record<string, string>, seconds: number, connections: number, server: 'api' | 'bare'): Promise<Load> {
  const before = snapshot(pids);
  const end = performance.now() + seconds * 1000;
  let done = 0;
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (performance.now() < end) {
        const res = await request(url, { headers });
        if (res.status !== 200) throw new Error(`GET ${url}: ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`);
        done++;
      }
    }),
  );
  const cpu = diff(snapshot(pids), before);
  return { perSecond: done / seconds, cpu: { server: cpu[server]! / done, postgres: cpu.postgres! / done, client: cpu.bench! / done } };
}

// Warm-up: compile paths, fill caches, let the workers' sticky caches hold a few runs.
say('warming up');
await throughput(hermesContract, 4, 2);
await throughput(referenceContract, 4, 2);

const results = { hermes1: [] as Throughput[], reference1: [] as Throughput[], hermesN: [] as Throughput[], referenceN: [] as Throughput[] };
for (let rep = 1; rep <= settings.reps; rep++) {
  say(`repetition ${rep}/${settings.reps}: lifecycle at 1 and ${settings.inFlight} in flight`);
  results.hermes1.push(await throughput(hermesContract, settings.serial, 1));
  results.reference1.push(await throughput(referenceContract, settings.serial, 1));
  results.referenceN.push(await throughput(referenceContract, settings.parallel, settings.inFlight));
  results.hermesN.push(await throughput(hermesContract, settings.parallel, settings.inFlight));
}

say('bid round trip against a bare Update');
const open = await must('POST', '/contracts', owner, CONTRACT);
const bareWf = await temporal.workflow.start('bareUpdates', { taskQueue: 'bench-reference', workflowId: `bare-updates-${randomUUID()}` });
const bids: number[] = [];
const pings: number[] = [];
const pingsWithActivity: number[] = [];
let price = 1;
for (let block = 0; block < settings.bidRounds / 10; block++) {
  bids.push(...(await roundTrips(() => must('POST', '/mesh/bid', agent, { contract_id: open.id, price_cents: price++, eta_seconds: 60, confidence: 0.9, replace: true }), 10)));
  pings.push(...(await roundTrips(() => bareWf.executeUpdate('ping', { args: [1] }), 10)));
  pingsWithActivity.push(...(await roundTrips(() => bareWf.executeUpdate('pingWithActivity', { args: [1] }), 10)));
}
await bareWf.signal('stop');

say('read routes against bare Koa + pg');
const settled = (await hermesContract()).id;
const userHeaders = { Authorization: `Bearer ${owner.token}` };
const reads = { contract: [] as Load[], bareContract: [] as Load[], agents: [] as Load[], bareAgents: [] as Load[], hello: [] as Load[] };
for (let rep = 0; rep < settings.reps; rep++) {
  const { readSeconds: s, readConnections: n } = settings;
  reads.contract.push(await load(`${apiBase}/contracts/${settled}`, userHeaders, s, n, 'api'));
  reads.bareContract.push(await load(`http://127.0.0.1:${settings.barePort}/contracts/${settled}`, {}, s, n, 'bare'));
  reads.agents.push(await load(`${apiBase}/agents`, {}, s, n, 'api'));
  reads.bareAgents.push(await load(`http://127.0.0.1:${settings.barePort}/agents`, {}, s, n, 'bare'));
  reads.hello.push(await load(`http://127.0.0.1:${settings.barePort}/hello`, {}, s, n, 'bare'));
}

// ---- report --------------------------------------------------------------------------------

const med = (rs: Throughput[], f: (t: Throughput) => number) => median(rs.map(f));
const cpuPer = (rs: Throughput[]) => {
  const total: CpuSnapshot = {};
  let count = 0;
  for (const r of rs) {
    count += r.count;
    for (const [k, v] of Object.entries(r.cpu)) total[k] = (total[k] ?? 0) + v;
  }
  return Object.fromEntries(Object.entries(total).map(([k, v]) => [k, v / count]));
};
const f1 = (x: number) => x.toFixed(1);
const f2 = (x: number) => x.toFixed(2);
const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`;

const rows: string[][] = [];
const h1 = med(results.hermes1, (t) => t.perSecond);
const r1 = med(results.reference1, (t) => t.perSecond);
const hN = med(results.hermesN, (t) => t.perSecond);
const rN = med(results.referenceN, (t) => t.perSecond);
rows.push(['contracts settled/s, 1 in flight', f2(h1), f2(r1), ratio(h1, r1)]);
rows.push([`contracts settled/s, ${settings.inFlight} in flight`, f2(hN), f2(rN), ratio(hN, rN)]);
for (const [label, hs, rs] of [
  ['post→SETTLED p50 / p99, 1 in flight (ms)', results.hermes1, results.reference1],
  [`post→SETTLED p50 / p99, ${settings.inFlight} in flight (ms)`, results.hermesN, results.referenceN],
] as const) {
  const hp50 = med(hs, (t) => t.p50);
  const hp99 = med(hs, (t) => t.p99);
  const rp50 = med(rs, (t) => t.p50);
  const rp99 = med(rs, (t) => t.p99);
  rows.push([label, `${f1(hp50)} / ${f1(hp99)}`, `${f1(rp50)} / ${f1(rp99)}`, `${ratio(hp50, rp50)} / ${ratio(hp99, rp99)}`]);
}
const hcpu = cpuPer(results.hermesN);
const rcpu = cpuPer(results.referenceN);
const hermesProcs = ['temporal', 'worker', 'api', 'postgres', 'stripe-mock', 'bench'];
const referenceProcs = ['temporal', 'reference', 'bench'];
const hTotal = hermesProcs.reduce((s, k) => s + (hcpu[k] ?? 0), 0);
const rTotal = referenceProcs.reduce((s, k) => s + (rcpu[k] ?? 0), 0);
rows.push([
  `CPU per settled contract at ${settings.inFlight} in flight (ms)`,
  `${f1(hTotal)} (${hermesProcs.map((k) => `${k} ${f1(hcpu[k] ?? 0)}`).join(', ')})`,
  `${f1(rTotal)} (${referenceProcs.map((k) => `${k} ${f1(rcpu[k] ?? 0)}`).join(', ')})`,
  ratio(hTotal, rTotal),
]);
// Each refused delivery is an Update the workflow's validator turned down: Temporal and worker
// work that grows with the time from close-bidding to the work's start.
const refusedPer = (rs: Throughput[]) => rs.reduce((s, r) => s + r.refused, 0) / rs.reduce((s, r) => s + r.count, 0);
rows.push([
  `deliveries refused before the work started, per contract, ${settings.inFlight} in flight (the client retries every 25 ms)`,
  f1(refusedPer(results.hermesN)),
  f1(refusedPer(results.referenceN)),
  ratio(refusedPer(results.hermesN), refusedPer(results.referenceN)),
]);
rows.push([
  'bid round trip p50 / p99 (ms), 1 in flight; reference: bare Update, no activity',
  `${f1(median(bids))} / ${f1(quantile(bids, 0.99))}`,
  `${f1(median(pings))} / ${f1(quantile(pings, 0.99))}`,
  `${ratio(median(bids), median(pings))} / ${ratio(quantile(bids, 0.99), quantile(pings, 0.99))}`,
]);
rows.push([
  'bid round trip p50 / p99 (ms); reference: bare Update running one no-op activity',
  `${f1(median(bids))} / ${f1(quantile(bids, 0.99))}`,
  `${f1(median(pingsWithActivity))} / ${f1(quantile(pingsWithActivity, 0.99))}`,
  `${ratio(median(bids), median(pingsWithActivity))} / ${ratio(quantile(bids, 0.99), quantile(pingsWithActivity, 0.99))}`,
]);
const perSecond = (ls: Load[]) => median(ls.map((l) => l.perSecond));
// CPU per request as "server / postgres / client" µs, medians over the repetitions.
const readCpu = (ls: Load[]) => (['server', 'postgres', 'client'] as const).map((k) => Math.round(median(ls.map((l) => l.cpu[k])) * 1000)).join(' / ');
for (const [route, hermes, bare] of [['GET /contracts/:id', reads.contract, reads.bareContract], ['GET /agents', reads.agents, reads.bareAgents]] as const) {
  rows.push([`${route} req/s, ${settings.readConnections} connections; reference: Koa + pg, one query`, f1(perSecond(hermes)), f1(perSecond(bare)), ratio(perSecond(hermes), perSecond(bare))]);
  rows.push([`${route} CPU per request, µs: server / Postgres / load client`, readCpu(hermes), readCpu(bare), '']);
}
rows.push(['bare Koa hello-world req/s (the floor of this machine)', '', f1(perSecond(reads.hello)), '']);

const load1 = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
console.log(`\nHermes against the fixed references (median of ${settings.reps} interleaved repetitions; ${settings.serial} contracts at 1 in flight and ${settings.parallel} at ${settings.inFlight} per repetition; load average ${load1}):\n`);
console.log('| figure | Hermes | reference | ratio |');
console.log('|---|---|---|---|');
for (const r of rows) console.log(`| ${r.join(' | ')} |`);
console.log('\nThe lifecycle reference is a bare workflow of the contract\'s shape on 2026-12-01 (bench/contracts/reference-workflows.ts): 15 no-op activities, 4 updates, 3 timers.');

await connection.close();
// Each child exits on SIGTERM (and writes its CPU profile, when asked) before the stack stops.
const exited = Promise.all(children.map((child) => new Promise((resolve) => (child.exitCode !== null ? resolve(null) : (child.once('exit', resolve), child.kill('SIGTERM'))))));
await Promise.race([exited, sleep(20_000)]);
process.exit(0);
