// Upload benchmark (not a test): `npm run bench:uploads` (scripts/bench-uploads.sh starts the
// services). Starts the API as its own process (`node --import tsx api/main.ts`, one process,
// so its RSS is the API's), then, first as a control, ten 3–15 MB uploads that are not WASM
// (refused at once: what receiving the bodies alone costs the API), then as a hostile uploader:
//   1. ten compile bombs of 3–15 MB, one after another (alternately memory-hungry and
//      CPU-hungry, test/support/compile-bomb.ts), each answer with its time and the compile
//      child's peak memory (from the API's log);
//   2. twelve sent at once (fresh seeds): how many are compiled, queued or turned away;
// and prints the API's RSS before, between and after, with the API's own event-loop delay
// while the compiles ran (its /metrics, reset by each read) and how long a GET /health took. The compile bounds are the configured ones
// (SANDBOX_COMPILE_*; defaults unless set in the environment).
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '../lib/config';
import { compileBomb, type BombShape } from '../test/support/compile-bomb';

const config = loadConfig();
const port = Number(process.env.BENCH_API_PORT ?? 55560);
const base = `http://127.0.0.1:${port}`;
const MIB = 1024 * 1024;
const root = new URL('..', import.meta.url).pathname;

const api = spawn(process.execPath, ['--import', 'tsx', 'api/main.ts'], {
  cwd: root,
  env: { ...process.env, API_PORT: String(port), API_HOST: '127.0.0.1', LOG_LEVEL: 'debug', RATE_LIMIT_USER_PER_MINUTE: '100000' },
  stdio: ['ignore', 'pipe', 'inherit'],
});
process.on('exit', () => api.kill('SIGKILL'));
// The compiler's log lines, in order: one per compile.
const compiles: Array<{ ms: number; peakRssMiB: number; msg: string }> = [];
const recent: string[] = [];
createInterface({ input: api.stdout! }).on('line', (line) => {
  recent.push(line);
  if (recent.length > 30) recent.shift();
  try {
    const entry = JSON.parse(line);
    if (typeof entry.msg === 'string' && /^module compile/.test(entry.msg)) compiles.push(entry);
  } catch {
    // not a log line
  }
});

const status = (field: string) => {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${api.pid}/status`, 'utf8'));
  return Number(m![1]) / 1024;
};
const rss = () => `${status('VmRSS').toFixed(0)} MiB`;

async function ready() {
  for (let i = 0; i < 600; i++) {
    if (api.exitCode !== null) throw new Error(`the API exited (${api.exitCode})`);
    const ok = await fetch(`${base}/ready`).then((r) => r.ok, () => false);
    if (ok) return;
    await sleep(100);
  }
  throw new Error('the API did not become ready');
}

async function upload(token: string, wasm: Uint8Array, name: string) {
  const form = new FormData();
  form.append('name', name);
  form.append('file', new Blob([wasm], { type: 'application/wasm' }), 'agent.wasm');
  const started = performance.now();
  const res = await fetch(`${base}/api/v1/agents/upload`, { method: 'POST', headers: { Authorization: `Bearer ${token}` }, body: form }).catch((err) => {
    console.error(`upload failed: ${err}; the API's last log lines:\n${recent.join('\n')}`);
    throw err;
  });
  const body = (await res.json()) as { error?: { code: string; message: string } };
  return { status: res.status, code: body.error?.code ?? 'created', message: body.error?.message ?? '', ms: performance.now() - started, retryAfter: res.headers.get('retry-after') };
}

// What the API's /metrics says of its memory: V8 heap in use, and Buffers outside the heap.
async function heap(): Promise<string> {
  const text = await fetch(`${base}/metrics`).then((r) => r.text());
  const read = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN) / MIB;
  return `V8 heap used ${read('nodejs_heap_size_used_bytes').toFixed(0)} MiB, external ${read('nodejs_external_memory_bytes').toFixed(0)} MiB`;
}

// The API's largest event-loop delay since the last read (prom-client resets it at each scrape).
async function loopDelayMaxMs(): Promise<number> {
  const text = await fetch(`${base}/metrics`).then((r) => r.text());
  const m = /^nodejs_eventloop_lag_max_seconds (\S+)$/m.exec(text);
  return m ? Number(m[1]) * 1000 : NaN;
}

// GET /health every 50 ms while `work` runs: the slowest answer says whether the event loop was held.
async function whileProbing<T>(work: Promise<T>): Promise<{ result: T; probes: number; maxMs: number; loopMaxMs: number }> {
  let done = false;
  let probes = 0;
  let maxMs = 0;
  const prober = (async () => {
    while (!done) {
      const t = performance.now();
      await fetch(`${base}/health`).then((r) => r.arrayBuffer());
      maxMs = Math.max(maxMs, performance.now() - t);
      probes++;
      await sleep(50);
    }
  })();
  await loopDelayMaxMs();
  const result = await work.finally(() => (done = true));
  await prober;
  return { result, probes, maxMs, loopMaxMs: await loopDelayMaxMs() };
}

const SIZES_MB = Array.from({ length: 10 }, (_, i) => 3 + Math.round((i * 12) / 9)); // 3 … 15 MB
const bombs = (seed: number, count = 10) =>
  Array.from({ length: count }, (_, j) => {
    const i = j % 10;
    const mb = SIZES_MB[i]!;
    const shape: BombShape = i % 2 ? 'locals' : 'blocks';
    // 1 MB functions: each one a bomb of its own.
    return { mb, shape, wasm: compileBomb({ bytes: mb * MIB, shape, functionBytes: MIB, seed: seed + i }) };
  });

// Made before the API is asked anything: generating 90 MB takes seconds, and a gap that long
// between two requests lets the server close the idle keep-alive connection under the next one.
const sequentialBombs = bombs(1000);
const burstBombs = bombs(2000, 12);
await ready();
const reg = await fetch(`${base}/api/v1/auth/register`, {
  method: 'POST',
  headers: { 'Content-Type': 'application/json' },
  body: JSON.stringify({ email: `bench-${Date.now()}@example.com`, password: 'correct horse battery', name: 'Bench' }),
});
const { token } = (await reg.json()) as { token: string };

console.log(
  `compile bounds: ${config.SANDBOX_COMPILE_TIMEOUT_SECONDS} s, ${config.SANDBOX_COMPILE_MEMORY_MB} MiB, ${config.SANDBOX_COMPILE_THREADS} thread(s), ` +
    `${config.SANDBOX_COMPILE_CONCURRENCY} at once + ${config.SANDBOX_COMPILE_QUEUE} queued, nice ${config.SANDBOX_COMPILE_NICE}`,
);
console.log(`API RSS when ready: ${rss()}`);
const agent = readFileSync(`${process.env.EXAMPLE_AGENTS_DIR ?? `${root}examples/agents/build`}/text-stats.wasm`);
const warm = await upload(token, agent, 'warm-up');
console.log(`valid upload (text-stats, ${(agent.length / 1024).toFixed(0)} KB): ${warm.status} in ${warm.ms.toFixed(0)} ms; API RSS ${rss()}`);

console.log('\ncontrol: ten 3–15 MB uploads that are not WASM (refused before any compile):');
const controlStart = status('VmRSS');
const junk = SIZES_MB.map((mb) => Buffer.alloc(mb * MIB, 7));
const answers = new Map<string, number>();
for (const j of junk) {
  const r = await upload(token, j, 'junk');
  answers.set(`${r.status} ${r.code}`, (answers.get(`${r.status} ${r.code}`) ?? 0) + 1);
}
console.log(`  answers: ${[...answers].map(([k, n]) => `${n}× ${k}`).join(', ')}`);
console.log(`API RSS: ${controlStart.toFixed(0)} MiB before, ${rss()} after (${await heap()})`);
const before = status('VmRSS');

console.log('\nten compile bombs, one after another:');
console.log('  size   shape   answer                     upload    compile child peak');
const sequential = await whileProbing(
  (async () => {
    for (const b of sequentialBombs) {
      const seen = compiles.length;
      const r = await upload(token, b.wasm, `bomb ${b.mb} MB`);
      // The API logs asynchronously: its line about this compile may come just after the answer.
      for (let i = 0; i < 40 && compiles.length <= seen; i++) await sleep(50);
      const c = compiles[seen];
      console.log(
        `  ${String(b.mb).padStart(2)} MB  ${b.shape.padEnd(6)}  ${`${r.status} ${r.code}`.padEnd(25)}  ${(r.ms / 1000).toFixed(1).padStart(5)} s   ` +
          `${c ? `${c.peakRssMiB} MiB (${c.msg.replace('module compile stopped: ', '')})` : '-'}`,
      );
    }
  })(),
);
const afterSequential = status('VmRSS');
console.log(`API RSS: ${before.toFixed(0)} MiB before, ${afterSequential.toFixed(0)} MiB after (peak so far ${status('VmHWM').toFixed(0)} MiB; ${await heap()})`);
console.log(`during the compiles: API event-loop delay max ${sequential.loopMaxMs.toFixed(0)} ms; GET /health ${sequential.probes} answers, slowest ${sequential.maxMs.toFixed(0)} ms`);

console.log(`\ntwelve at once (${config.SANDBOX_COMPILE_CONCURRENCY + config.SANDBOX_COMPILE_QUEUE} fit):`);
const burst = await whileProbing(Promise.all(burstBombs.map((b) => upload(token, b.wasm, `bomb ${b.mb} MB`))));
const counts = new Map<string, number>();
for (const r of burst.result) counts.set(`${r.status} ${r.code}`, (counts.get(`${r.status} ${r.code}`) ?? 0) + 1);
console.log(`  answers: ${[...counts].map(([k, n]) => `${n}× ${k}`).join(', ')}`);
const busy = burst.result.filter((r) => r.status === 503).map((r) => r.retryAfter);
if (busy.length) console.log(`  Retry-After on the 503s: ${busy.join(', ')} s`);
console.log(`  slowest answer ${(Math.max(...burst.result.map((r) => r.ms)) / 1000).toFixed(1)} s`);
console.log(`during the burst: API event-loop delay max ${burst.loopMaxMs.toFixed(0)} ms; GET /health ${burst.probes} answers, slowest ${burst.maxMs.toFixed(0)} ms`);

const after = await upload(token, Buffer.concat([agent, Buffer.from([0, 6, 5, 110, 111, 110, 99, 101])]), 'after');
console.log(`\nvalid upload after: ${after.status} in ${after.ms.toFixed(0)} ms`);
console.log(`API RSS: ${before.toFixed(0)} MiB before the bombs, ${status('VmRSS').toFixed(0)} MiB after all twenty-two (peak ${status('VmHWM').toFixed(0)} MiB; ${await heap()})`);
api.kill('SIGTERM');
process.exit(0);
