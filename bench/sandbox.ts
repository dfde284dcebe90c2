// Sandbox benchmark (not a test): `npm run bench:sandbox`. Prints, in one run:
//  1. the per-run overhead of the sandbox for a cached module (fresh store, WASI context,
//     limits, pool slot, the hand-off to the addon's threads and back), beside the figure
//     measured before the pooling allocator and the shared runtime, and the one-off cost of
//     compiling a module;
//  2. one compute-heavy program (bench/compute.c) timed under the sandbox with each metering
//     (fuel; epoch-only with CPU time), under Node's own WebAssembly with node:wasi
//     (unmetered), and compiled natively, the variants interleaved round by round.
//     Instantiation is outside the timing for Node; the sandbox figure is the whole run.
// Expects BENCH_COMPUTE_WASM and BENCH_COMPUTE_NATIVE from scripts/bench-sandbox.sh.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { loadConfig } from '../lib/config';
import { WasmSandbox, watToWasm, type RunResult, type SandboxMetering } from '../sandbox';

const config = loadConfig();
const scale = process.env.BENCH_SCALE ?? '10';
const overheadRuns = Number(process.env.BENCH_OVERHEAD_RUNS ?? 3000);
const overheadRounds = Number(process.env.BENCH_OVERHEAD_ROUNDS ?? 5);
const repeats = Number(process.env.BENCH_REPEATS ?? 7);
const computeWasm = readFileSync(process.env.BENCH_COMPUTE_WASM!);
const nativeBinary = process.env.BENCH_COMPUTE_NATIVE!;
/** Measured on this machine before InstancePre was paired with the pooling allocator and runs
 *  moved off a thread and Tokio runtime of their own (issue 13). */
const PREVIOUS_OVERHEAD = '0.25–0.36 ms';

const load = (metering: SandboxMetering, poolSize?: number) =>
  WasmSandbox.load(config.SANDBOX_ADDON_PATH, { metering, poolSize, cacheCapacity: 8 });
const limits = { fuel: 1e15, memoryBytes: 512 * 1024 * 1024, timeoutMs: 120_000, outputBytes: 1 << 20 };

const percentile = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;
const median = (xs: number[]) => percentile(xs, 0.5);
const fmt = (ms: number) => (ms < 1 ? `${(ms * 1000).toFixed(0)} µs` : `${ms.toFixed(1)} ms`);
const loadNow = () => loadavg().map((l) => l.toFixed(2)).join(' ');

async function overhead() {
  const noop = watToWasm(config.SANDBOX_ADDON_PATH, readFileSync(new URL('noop.wat', import.meta.url), 'utf8'));
  const variants = [
    // Fuel-metered runs by hash start on the calling thread; epoch-only ones always go to a worker.
    { name: 'pooled, fuel metering (default)', sandbox: load('fuel', config.SANDBOX_POOL_SIZE) },
    { name: 'pooled, epoch-only (handed to a worker)', sandbox: load('epoch', config.SANDBOX_POOL_SIZE) },
    { name: 'fuel, on-demand allocation (pool size 0)', sandbox: load('fuel', 0) },
  ].map((v) => ({ ...v, times: [] as number[], cpu: [] as number[], sha256: '' }));
  const compileStart = performance.now();
  for (const v of variants) v.sha256 = (await v.sandbox.compile(noop)).sha256;
  const compileMs = (performance.now() - compileStart) / variants.length;
  const computeCompileStart = performance.now();
  await load(config.SANDBOX_METERING).compile(computeWasm);
  const computeCompileMs = performance.now() - computeCompileStart;

  for (const v of variants) for (let i = 0; i < 300; i++) await v.sandbox.run({ moduleSha256: v.sha256, ...limits }); // warm up
  // Rounds interleave the variants so a burst of load on the machine hits them alike.
  for (let round = 0; round < overheadRounds; round++) {
    for (const v of variants) {
      for (let i = 0; i < overheadRuns / overheadRounds; i++) {
        const t = performance.now();
        const r = await v.sandbox.run({ moduleSha256: v.sha256, ...limits });
        v.times.push(performance.now() - t);
        v.cpu.push(r.cpuTimeUs);
      }
    }
  }
  const main = variants[0]!;
  const started = performance.now();
  for (let i = 0; i < overheadRuns; i++) await main.sandbox.run({ moduleSha256: main.sha256, ...limits });
  const wall = performance.now() - started;
  // Concurrency: as many runs in flight as the machine has cores, then many more than that.
  const inFlight = async (parallel: number) => {
    const pStart = performance.now();
    await Promise.all(
      Array.from({ length: parallel }, async () => {
        for (let i = 0; i < overheadRuns / parallel; i++) await main.sandbox.run({ moduleSha256: main.sha256, ...limits });
      }),
    );
    return Math.round((overheadRuns / (performance.now() - pStart)) * 1000);
  };
  return { compileMs, computeCompileMs, variants, wall, two: await inFlight(2), many: await inFlight(100), pool: main.sandbox.poolSize };
}

async function underSandbox(sandbox: WasmSandbox, label: string) {
  const r = await sandbox.run({ module: computeWasm, args: [scale], ...limits });
  if (r.outcome !== 'ok') throw new Error(`sandbox run (${label}): ${r.outcome} ${r.message}`);
  return r;
}

// Each Node run is its own process: Node 20's WASI crashes (SIGSEGV, without our addon
// loaded) after a few instantiations of this module in one process. The runner times
// wasi.start() itself and reports on stderr; the program's checksum comes on stdout.
const nodeRunner = `
const { WASI } = require('node:wasi');
const bytes = require('node:fs').readFileSync(process.argv[1]);
WebAssembly.instantiate(bytes, new WASI({ version: 'preview1', args: ['compute', '1'], stdout: require('node:fs').openSync('/dev/null', 'w') }).getImportObject())
  .then(async () => {
    const wasi = new WASI({ version: 'preview1', args: ['compute', process.argv[2]] });
    const { instance } = await WebAssembly.instantiate(bytes, wasi.getImportObject());
    const t = performance.now();
    const cpu = process.threadCpuUsage();
    wasi.start(instance);
    const used = process.threadCpuUsage(cpu);
    process.stderr.write(JSON.stringify({ ms: performance.now() - t, cpuMs: (used.user + used.system) / 1000 }));
  });
`;

function underNode() {
  const r = spawnSync(process.execPath, ['--no-warnings', '-e', nodeRunner, process.env.BENCH_COMPUTE_WASM!, scale]);
  if (r.status !== 0) throw new Error(`node run failed (${r.status ?? r.signal}): ${r.stderr}`);
  const { ms, cpuMs } = JSON.parse(r.stderr.toString()) as { ms: number; cpuMs: number };
  return { ms, cpuMs, output: r.stdout.toString().trim() };
}

// The shell's `times` gives the program's CPU time (user + system) next to the wall clock.
function native() {
  const t = performance.now();
  const r = spawnSync('bash', ['-c', '"$0" "$1" && times >&2', nativeBinary, scale]);
  const ms = performance.now() - t;
  if (r.status !== 0) throw new Error(`native run failed: ${r.stderr}`);
  const children = r.stderr.toString().trim().split('\n')[1]!.split(/\s+/);
  const seconds = (x: string) => { const [, m, s] = /^(\d+)m([\d.]+)s$/.exec(x)!; return Number(m) * 60 + Number(s); };
  return { ms, cpuMs: (seconds(children[0]!) + seconds(children[1]!)) * 1000, output: r.stdout.toString().trim() };
}

const loadBefore = loadNow();
const o = process.env.BENCH_SKIP_OVERHEAD ? null : await overhead();
console.log('Sandbox benchmark (wasmtime 48 via napi-rs)\n');
if (o) {
console.log(`Per-run overhead, cached no-op module, ${overheadRuns} sequential runs each, ${overheadRounds} interleaved rounds:`);
for (const v of o.variants) {
  console.log(`  ${v.name.padEnd(46)} median ${fmt(median(v.times)).padStart(6)}   p99 ${fmt(percentile(v.times, 0.99)).padStart(6)}   CPU in the run ${median(v.cpu)} µs`);
}
console.log(`  previously (a thread and Tokio runtime per run, on-demand allocation): ${PREVIOUS_OVERHEAD}`);
console.log(`  throughput ${Math.round((overheadRuns / o.wall) * 1000)} runs/s sequential, ${o.two} runs/s with 2 in flight, ${o.many} runs/s with 100 in flight (pool of ${o.pool})`);
console.log(`  one-off compile: no-op module ${fmt(o.compileMs)}, compute module (${computeWasm.length} bytes) ${fmt(o.computeCompileMs)}`);
console.log(`  load average (1, 5, 15 min) before: ${loadBefore}, after: ${loadNow()}\n`);
}

const fuelBox = load('fuel');
const epochBox = load('epoch');
await fuelBox.run({ module: computeWasm, args: ['1'], ...limits }); // compile + warm
await epochBox.run({ module: computeWasm, args: ['1'], ...limits });
execFileSync(nativeBinary, ['1']);
const fuel: RunResult[] = [];
const epoch: RunResult[] = [];
const node: { ms: number; cpuMs: number }[] = [];
const nat: { ms: number; cpuMs: number }[] = [];
const outputs = new Set<string>();
const loadCompute = loadNow();
for (let i = 0; i < repeats; i++) {
  // Interleaved, so the load on a shared machine hits each variant alike.
  const f = await underSandbox(fuelBox, 'fuel');
  const e = await underSandbox(epochBox, 'epoch');
  const n = underNode();
  const c = native();
  fuel.push(f);
  epoch.push(e);
  node.push(n);
  nat.push(c);
  for (const out of [f.stdout.toString().trim(), e.stdout.toString().trim(), n.output, c.output]) outputs.add(out);
}
const base = median(nat.map((r) => r.ms));
const baseCpu = median(nat.map((r) => r.cpuMs));
console.log(`Compute-heavy program (bench/compute.c, scale ${scale}), median of ${repeats} interleaved rounds`);
console.log('(wall clock, and CPU time, which a busy machine skews less):');
const row = (name: string, ms: number, cpuMs: number, extra = '') =>
  console.log(
    `  ${name.padEnd(40)} ${fmt(ms).padStart(10)} ${(ms / base).toFixed(2)}x native   CPU ${fmt(cpuMs).padStart(10)} ${(cpuMs / baseCpu).toFixed(2)}x native${extra}`,
  );
const fuelMs = median(fuel.map((r) => r.durationMs));
const epochMs = median(epoch.map((r) => r.durationMs));
const fuelCpu = median(fuel.map((r) => r.cpuTimeUs)) / 1000;
const epochCpu = median(epoch.map((r) => r.cpuTimeUs)) / 1000;
row('wasmtime sandbox, fuel metering', fuelMs, fuelCpu, `   fuel ${fuel[0]!.fuelConsumed.toLocaleString('en')}`);
row('wasmtime sandbox, epoch-only + CPU time', epochMs, epochCpu);
row("Node's WebAssembly (unmetered)", median(node.map((r) => r.ms)), median(node.map((r) => r.cpuMs)));
row('native (gcc -O2)', base, baseCpu);
console.log(`\n  fuel / epoch-only: ${(fuelMs / epochMs).toFixed(2)}x wall, ${(fuelCpu / epochCpu).toFixed(2)}x CPU`);
console.log(`  load average during the compute rounds: ${loadCompute} → ${loadNow()}`);
const same = outputs.size === 1;
console.log(`  checksums ${same ? 'agree' : 'DIFFER'}: ${[...outputs].join(' | ')}`);
if (!same) process.exitCode = 1;
