// Sandbox benchmark (not a test): `npm run bench:sandbox`. Prints, in one run:
//  1. the per-run overhead of the sandbox for a cached module (fresh store, WASI context,
//     limits, thread hand-off), and the one-off cost of compiling a module;
//  2. one compute-heavy program (bench/compute.c) timed under the sandbox (fuel-metered),
//     under Node's own WebAssembly with node:wasi (unmetered), and compiled natively.
//     Instantiation is outside the timing for Node; the sandbox figure is the whole run.
// Expects BENCH_COMPUTE_WASM and BENCH_COMPUTE_NATIVE from scripts/bench-sandbox.sh.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadConfig } from '../lib/config';
import { WasmSandbox, watToWasm } from '../sandbox';

const config = loadConfig();
const scale = process.env.BENCH_SCALE ?? '10';
const overheadRuns = Number(process.env.BENCH_OVERHEAD_RUNS ?? 2000);
const repeats = Number(process.env.BENCH_REPEATS ?? 5);
const computeWasm = readFileSync(process.env.BENCH_COMPUTE_WASM!);
const nativeBinary = process.env.BENCH_COMPUTE_NATIVE!;

const sandbox = WasmSandbox.load(config.SANDBOX_ADDON_PATH);
const limits = { fuel: 1e15, memoryBytes: 512 * 1024 * 1024, timeoutMs: 120_000, outputBytes: 1 << 20 };

const percentile = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;
const median = (xs: number[]) => percentile(xs, 0.5);
const fmt = (ms: number) => (ms < 1 ? `${(ms * 1000).toFixed(0)} µs` : `${ms.toFixed(1)} ms`);

async function overhead() {
  const noop = watToWasm(config.SANDBOX_ADDON_PATH, readFileSync(new URL('noop.wat', import.meta.url), 'utf8'));
  const compileStart = performance.now();
  const { sha256 } = await sandbox.compile(noop);
  const compileMs = performance.now() - compileStart;
  const computeCompileStart = performance.now();
  const fresh = WasmSandbox.load(config.SANDBOX_ADDON_PATH);
  await fresh.compile(computeWasm);
  const computeCompileMs = performance.now() - computeCompileStart;

  for (let i = 0; i < 200; i++) await sandbox.run({ moduleSha256: sha256, ...limits }); // warm up
  const times: number[] = [];
  const started = performance.now();
  for (let i = 0; i < overheadRuns; i++) {
    const t = performance.now();
    await sandbox.run({ moduleSha256: sha256, ...limits });
    times.push(performance.now() - t);
  }
  const wall = performance.now() - started;
  // Concurrency: as many runs in flight as the machine has cores.
  const parallel = 2;
  const pStart = performance.now();
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      for (let i = 0; i < overheadRuns / parallel; i++) await sandbox.run({ moduleSha256: sha256, ...limits });
    }),
  );
  const pWall = performance.now() - pStart;
  return { compileMs, computeCompileMs, times, wall, pWall, parallel };
}

async function underSandbox() {
  const times: number[] = [];
  let output = '';
  let fuel = 0;
  await sandbox.run({ module: computeWasm, args: ['1'], ...limits }); // compile + warm
  for (let i = 0; i < repeats; i++) {
    const t = performance.now();
    const r = await sandbox.run({ module: computeWasm, args: [scale], ...limits });
    times.push(performance.now() - t);
    if (r.outcome !== 'ok') throw new Error(`sandbox run: ${r.outcome} ${r.message}`);
    output = r.stdout.toString().trim();
    fuel = r.fuelConsumed;
  }
  return { times, output, fuel };
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
    wasi.start(instance);
    process.stderr.write(String(performance.now() - t));
  });
`;

function underNode() {
  const times: number[] = [];
  let output = '';
  for (let i = 0; i < repeats; i++) {
    const r = spawnSync(process.execPath, ['--no-warnings', '-e', nodeRunner, process.env.BENCH_COMPUTE_WASM!, scale]);
    if (r.status !== 0) throw new Error(`node run failed (${r.status ?? r.signal}): ${r.stderr}`);
    output = r.stdout.toString().trim();
    times.push(Number(r.stderr.toString()));
  }
  return { times, output };
}

function native() {
  const times: number[] = [];
  let output = '';
  execFileSync(nativeBinary, ['1']);
  for (let i = 0; i < repeats; i++) {
    const t = performance.now();
    output = execFileSync(nativeBinary, [scale]).toString().trim();
    times.push(performance.now() - t);
  }
  return { times, output };
}

const o = await overhead();
console.log('Sandbox benchmark (wasmtime 48 via napi-rs)\n');
console.log(`Per-run overhead, cached no-op module, ${overheadRuns} sequential runs:`);
console.log(`  median ${fmt(median(o.times))}   p99 ${fmt(percentile(o.times, 0.99))}   throughput ${Math.round((overheadRuns / o.wall) * 1000)} runs/s`);
console.log(`  ${o.parallel} runs in flight: ${Math.round((overheadRuns / o.pWall) * 1000)} runs/s`);
console.log(`  one-off compile: no-op module ${fmt(o.compileMs)}, compute module (${computeWasm.length} bytes) ${fmt(o.computeCompileMs)}\n`);

const s = await underSandbox();
const n = underNode();
const c = native();
const base = median(c.times);
console.log(`Compute-heavy program (bench/compute.c, scale ${scale}), median of ${repeats}:`);
const row = (name: string, times: number[], extra = '') =>
  console.log(`  ${name.padEnd(34)} ${fmt(median(times)).padStart(10)}   ${(median(times) / base).toFixed(2)}x native${extra}`);
row('wasmtime sandbox (fuel-metered)', s.times, `   fuel ${s.fuel.toLocaleString('en')}`);
row("Node's WebAssembly (unmetered)", n.times);
row('native (gcc -O2)', c.times);
console.log(`\n  sandbox / Node WebAssembly: ${(median(s.times) / median(n.times)).toFixed(2)}x`);
const same = s.output === n.output && n.output === c.output;
console.log(`  checksums ${same ? 'agree' : 'DIFFER'}: ${s.output}`);
if (!same) {
  console.log(`  node: ${n.output}\n  native: ${c.output}`);
  process.exitCode = 1;
}
