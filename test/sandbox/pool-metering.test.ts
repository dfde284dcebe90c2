import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../lib/config';
import { abortOnceRunning, fixture, loadSandbox } from '../support/wasm';

// The pooling allocator reuses one instance's memory, tables and stack for the next run, and
// the sandbox can meter by fuel or by epoch checks plus CPU time: a run must never see what an
// earlier one left, the limits must hold in a reused slot, and every run must still end at its
// deadline with a cost on record.
const limits = { fuel: 20_000_000, memoryBytes: 16 * 1024 * 1024, timeoutMs: 5_000, outputBytes: 64 * 1024 };

describe('the instance pool', () => {
  it('a run never sees the memory, globals or memory size an earlier run left in its slot', async () => {
    // One slot: every run reuses the same memory, table and stack.
    const sandbox = loadSandbox(4, { poolSize: 1 });
    expect(sandbox.poolSize).toBe(1);
    const leftovers = fixture('leftovers');
    const echo = fixture('echo');
    for (let i = 0; i < 5; i++) {
      const r = await sandbox.run({ module: leftovers, ...limits });
      expect(r).toMatchObject({ outcome: 'ok' });
      expect(r.stdout.toString()).toBe('0010');
      // Another module in between takes the slot over and hands it back.
      expect((await sandbox.run({ module: echo, stdin: `run ${i}`, ...limits })).stdout.toString()).toBe(`run ${i}`);
    }
  });

  it('the memory cap holds in a reused slot, and a bigger cap in the next run of that slot works', async () => {
    const sandbox = loadSandbox(4, { poolSize: 1 });
    const bomb = await sandbox.run({ module: fixture('memory-bomb'), ...limits, memoryBytes: 1024 * 1024 });
    expect(bomb.outcome).toBe('memory_limit');
    expect(bomb.message).toMatch(/memory limit of 1048576 bytes exceeded/);
    const again = await sandbox.run({ module: fixture('memory-bomb'), ...limits, memoryBytes: 4 * 1024 * 1024 });
    expect(again.message).toMatch(/memory limit of 4194304 bytes exceeded/);
    // The slot grew to 4 MiB in the last run; this run starts at its own one page.
    expect((await sandbox.run({ module: fixture('leftovers'), ...limits })).stdout.toString()).toBe('0010');
  });

  it('runs beyond the pool wait for a slot instead of failing, each with its own output', async () => {
    const sandbox = loadSandbox(4, { poolSize: 3 });
    const echo = fixture('echo');
    const results = await Promise.all(
      Array.from({ length: 60 }, (_, i) => sandbox.run({ module: echo, stdin: `input ${i}`, ...limits })),
    );
    expect(results.map((r) => r.outcome)).toEqual(Array(60).fill('ok'));
    expect(results.map((r) => r.stdout.toString())).toEqual(Array.from({ length: 60 }, (_, i) => `input ${i}`));
    // The same by hash: these start on this thread, and those without a slot wait for one.
    const byHash = await Promise.all(
      Array.from({ length: 60 }, (_, i) => sandbox.run({ moduleSha256: results[0]!.moduleSha256, stdin: `again ${i}`, ...limits })),
    );
    expect(byHash.map((r) => r.stdout.toString())).toEqual(Array.from({ length: 60 }, (_, i) => `again ${i}`));
  });

  it('spinning guests beyond the pool each still end at their own deadline', async () => {
    const sandbox = loadSandbox(4, { poolSize: 2 });
    const results = await Promise.all(
      Array.from({ length: 5 }, () => sandbox.run({ module: fixture('infinite-loop'), ...limits, fuel: 1e15, timeoutMs: 200 })),
    );
    expect(results.map((r) => r.outcome)).toEqual(Array(5).fill('timeout'));
    for (const r of results) expect(r.durationMs).toBeLessThan(2_000);
  });

  it('where the address space for the pool is refused, the sandbox maps per run and says why', () => {
    // 64 slots reserve ~258 GiB of address space; a 16 GiB `ulimit -v` refuses it.
    const script = `
      const addon = require(process.argv[1]);
      const sandbox = new addon.Sandbox({});
      const echo = require('node:fs').readFileSync(process.argv[2], 'utf8');
      sandbox.run({ module: addon.watToWasm(echo), stdin: Buffer.from('still runs'), fuel: 1e6, memoryBytes: 1 << 20, timeoutMs: 5000, outputBytes: 100 })
        .then((r) => console.log(JSON.stringify({ poolSize: sandbox.poolSize, poolError: sandbox.poolError, stdout: r.stdout.toString() })));
    `;
    const echoWat = new URL('../fixtures/wasm/echo.wat', import.meta.url).pathname;
    const child = spawnSync('bash', ['-c', 'ulimit -v 16000000 && exec "$0" -e "$1" "$2" "$3"', process.execPath, script, loadConfig().SANDBOX_ADDON_PATH, echoWat]);
    expect(child.status, child.stderr.toString()).toBe(0);
    const r = JSON.parse(child.stdout.toString()) as { poolSize: number; poolError: string | null; stdout: string };
    expect(r).toMatchObject({ poolSize: 0, stdout: 'still runs' });
    expect(r.poolError).toMatch(/memory pool/);
  });

  it('without a pool (poolSize 0) the same runs behave the same', async () => {
    const sandbox = loadSandbox(4, { poolSize: 0 });
    expect(sandbox.poolSize).toBe(0);
    expect((await sandbox.run({ module: fixture('leftovers'), ...limits })).stdout.toString()).toBe('0010');
    expect((await sandbox.run({ module: fixture('memory-bomb'), ...limits })).outcome).toBe('memory_limit');
    expect(await sandbox.run({ module: fixture('exit-255'), ...limits })).toMatchObject({ outcome: 'exit_nonzero', exitCode: 255 });
  });
});

describe('metering', () => {
  it('fuel (the default) reports fuel and CPU time', async () => {
    const sandbox = loadSandbox(4);
    expect(sandbox.metering).toBe('fuel');
    const r = await sandbox.run({ module: fixture('echo'), stdin: 'metered', ...limits });
    expect(r).toMatchObject({ outcome: 'ok', metering: 'fuel' });
    expect(r.fuelConsumed).toBeGreaterThan(0);
    expect(r.cpuTimeUs).toBeGreaterThan(0);
    expect(r.cpuTimeUs / 1000).toBeLessThanOrEqual(r.durationMs + 1);
  });

  it('epoch-only: no fuel budget, but the deadline holds and the run costs its CPU time', async () => {
    const sandbox = loadSandbox(4, { metering: 'epoch' });
    expect(sandbox.metering).toBe('epoch');
    // A fuel budget that would stop this loop under fuel metering does not apply.
    const r = await sandbox.run({ module: fixture('infinite-loop'), ...limits, fuel: 1_000, timeoutMs: 300 });
    expect(r).toMatchObject({ outcome: 'timeout', metering: 'epoch', fuelConsumed: 0 });
    expect(r.durationMs).toBeGreaterThanOrEqual(300);
    expect(r.durationMs).toBeLessThan(2_000);
    // A spinning guest's cost is CPU time: far above a sleeping one's (next test), though a busy
    // shared machine (2 cores, several test files) can take most of the wall clock from it.
    expect(r.cpuTimeUs).toBeGreaterThan(10_000);
    expect(r.cpuTimeUs / 1000).toBeLessThanOrEqual(r.durationMs + 1);
  });

  it('epoch-only: a guest asleep in a host call costs (almost) no CPU time', async () => {
    const sandbox = loadSandbox(4, { metering: 'epoch' });
    const r = await sandbox.run({ module: fixture('sleeper'), ...limits, timeoutMs: 300 });
    expect(r.outcome).toBe('timeout');
    expect(r.cpuTimeUs).toBeLessThan(50_000);
  });

  it('epoch-only keeps every other outcome: exit codes, traps, memory and output caps, cancel', async () => {
    const sandbox = loadSandbox(4, { metering: 'epoch' });
    const run = (name: string, extra = {}) => sandbox.run({ module: fixture(name), ...limits, ...extra });
    expect((await run('echo', { stdin: 'a\0b' })).stdout).toEqual(Buffer.from('a\0b'));
    expect(await run('exit-negative')).toMatchObject({ outcome: 'exit_nonzero', exitCode: -1 });
    expect(await run('trap')).toMatchObject({ outcome: 'trap', message: 'wasm trap: integer divide by zero' });
    expect((await run('memory-bomb')).outcome).toBe('memory_limit');
    expect((await run('output-flood')).outcome).toBe('output_limit');
    const controller = new AbortController();
    const aborted = abortOnceRunning(controller);
    const cancelled = await run('infinite-loop', { timeoutMs: 10_000, signal: controller.signal });
    await aborted;
    expect(cancelled.outcome).toBe('cancelled');
    expect(cancelled.cpuTimeUs).toBeGreaterThan(0);
  });

  it('refuses a metering it does not know', () => {
    expect(() => loadSandbox(4, { metering: 'instructions' as 'fuel' })).toThrow(/metering must be "epoch" or "fuel"/);
  });
});

describe('a run of a compiled module by its hash', () => {
  // Such a run starts on the caller's thread and answers at once when its first slice (one
  // fuel chunk) finishes it; anything longer must still leave the event loop free.
  it('answers small runs at once and still hands a spinning guest off the event loop', async () => {
    const sandbox = loadSandbox(4);
    const echo = (await sandbox.compile(fixture('echo'))).sha256;
    const loop = (await sandbox.compile(fixture('infinite-loop'))).sha256;
    expect((await sandbox.run({ moduleSha256: echo, stdin: 'by hash', ...limits })).stdout.toString()).toBe('by hash');
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const results = await Promise.all(
      Array.from({ length: 3 }, () => sandbox.run({ moduleSha256: loop, ...limits, fuel: 1e15, timeoutMs: 300 })),
    );
    clearInterval(timer);
    expect(results.map((r) => r.outcome)).toEqual(['timeout', 'timeout', 'timeout']);
    expect(ticks).toBeGreaterThan(20);
  });

  it('is cancelled by its signal, ends exactly on a fuel budget smaller than one slice, and times out asleep', async () => {
    const sandbox = loadSandbox(4);
    const loop = (await sandbox.compile(fixture('infinite-loop'))).sha256;
    const controller = new AbortController();
    const aborted = abortOnceRunning(controller);
    const cancelled = await sandbox.run({ moduleSha256: loop, ...limits, fuel: 1e15, timeoutMs: 10_000, signal: controller.signal });
    await aborted;
    expect(cancelled.outcome).toBe('cancelled');
    expect(await sandbox.run({ moduleSha256: loop, ...limits, fuel: 10_000 })).toMatchObject({ outcome: 'fuel_exhausted', fuelConsumed: 10_000 });
    // Asleep in a host call from its first slice: handed to a worker, still timed out.
    const sleeper = (await sandbox.compile(fixture('sleeper'))).sha256;
    const slept = await sandbox.run({ moduleSha256: sleeper, ...limits, timeoutMs: 250 });
    expect(slept.outcome).toBe('timeout');
    expect(slept.durationMs).toBeLessThan(2_000);
  });
});
