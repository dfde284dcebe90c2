import { describe, expect, it } from 'vitest';
import { sha256Hex } from '../../lib/binary-store';
import { SandboxError, type RunOptions } from '../../sandbox';
import { abortOnceRunning, exampleAgent, fixture, loadSandbox } from '../support/wasm';

// The native sandbox in this very process: every hostile module must end with its own
// outcome while the host (this test worker) carries on.
const sandbox = loadSandbox();
const limits = { fuel: 20_000_000, memoryBytes: 16 * 1024 * 1024, timeoutMs: 5_000, outputBytes: 64 * 1024 };
const run = (module: Buffer, extra: Partial<RunOptions> = {}) => sandbox.run({ module, ...limits, ...extra });

describe('a well-behaved module', () => {
  it('gets stdin, args and env, and its stdout back with fuel and duration', async () => {
    const r = await run(fixture('echo'), { stdin: 'hello sandbox' });
    expect(r).toMatchObject({ outcome: 'ok', exitCode: 0, message: null });
    expect(r.stdout.toString()).toBe('hello sandbox');
    expect(r.fuelConsumed).toBeGreaterThan(0);
    expect(r.durationMs).toBeGreaterThan(0);
    expect(r.moduleSha256).toBe(sha256Hex(fixture('echo')));
  });

  it('runs a real C agent (text-stats) on JSON input', async () => {
    const input = { intent: 'stats', context: { text: 'The cat sat. The dog sat too!', top: 2 } };
    const r = await run(exampleAgent('text-stats'), { stdin: JSON.stringify(input) });
    expect(r.outcome).toBe('ok');
    expect(JSON.parse(r.stdout.toString())).toMatchObject({
      words: 7,
      unique_words: 5,
      sentences: 2,
      top_words: [
        { word: 'sat', count: 2 },
        { word: 'the', count: 2 },
      ],
    });
  });

  it('runs the json-transform agent: pick, rename, sort keys', async () => {
    const input = { intent: 'reshape', context: { data: { b: 1, a: { z: 2, c: [3] }, drop: true }, pick: ['a', 'b'], rename: { b: 'beta' }, sort_keys: true } };
    const r = await run(exampleAgent('json-transform'), { stdin: JSON.stringify(input) });
    expect(r.outcome).toBe('ok');
    expect(r.stdout.toString().trim()).toBe('{"a":{"c":[3],"z":2},"beta":1}');
  });

  it('reuses the compiled module by its SHA-256 without the bytes', async () => {
    const module = fixture('echo');
    const first = await run(module, { stdin: 'a' });
    expect(sandbox.has(first.moduleSha256)).toBe(true);
    const again = await sandbox.run({ moduleSha256: first.moduleSha256, stdin: 'b', ...limits });
    expect(again.stdout.toString()).toBe('b');
  });

  it('runs several modules at once off the event loop', async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const results = await Promise.all(
      Array.from({ length: 4 }, (_, i) => run(fixture('infinite-loop'), { fuel: 1e15, timeoutMs: 300 + i })),
    );
    clearInterval(timer);
    expect(results.map((r) => r.outcome)).toEqual(['timeout', 'timeout', 'timeout', 'timeout']);
    // The event loop kept turning while four guests spun for ~300 ms.
    expect(ticks).toBeGreaterThan(20);
  });
});

describe('hostile modules are contained', () => {
  it('an infinite loop runs out of fuel', async () => {
    const r = await run(fixture('infinite-loop'));
    expect(r).toMatchObject({ outcome: 'fuel_exhausted', exitCode: null, fuelConsumed: limits.fuel });
  });

  it('an infinite loop with plenty of fuel hits the wall-clock deadline', async () => {
    const r = await run(fixture('infinite-loop'), { fuel: 1e15, timeoutMs: 250 });
    expect(r.outcome).toBe('timeout');
    expect(r.durationMs).toBeGreaterThanOrEqual(250);
    expect(r.durationMs).toBeLessThan(2_000);
  });

  it('a guest asleep in a host call (poll_oneoff for an hour) still times out', async () => {
    const r = await run(fixture('sleeper'), { timeoutMs: 250 });
    expect(r.outcome).toBe('timeout');
    expect(r.durationMs).toBeLessThan(2_000);
  });

  it('memory growth past the cap stops the run', async () => {
    const r = await run(fixture('memory-bomb'));
    expect(r.outcome).toBe('memory_limit');
    expect(r.message).toMatch(/memory limit of 16777216 bytes exceeded/);
  });

  it('an output flood stops at the cap with what fit', async () => {
    const r = await run(fixture('output-flood'));
    expect(r.outcome).toBe('output_limit');
    expect(r.stdout.length).toBe(limits.outputBytes);
  });

  it('opening a file fails: there are no preopened directories', async () => {
    const r = await run(fixture('open-file'));
    // The module exits with the errno it got: 8 is EBADF, fd 3 does not exist.
    expect(r).toMatchObject({ outcome: 'exit_nonzero', exitCode: 8 });
  });

  it('deep recursion is a stack-overflow trap', async () => {
    const r = await run(fixture('deep-recursion'));
    expect(r.outcome).toBe('trap');
    expect(r.message).toMatch(/call stack exhausted/);
  });

  it('a trap reports its message', async () => {
    const r = await run(fixture('trap'));
    expect(r).toMatchObject({ outcome: 'trap', message: 'wasm trap: integer divide by zero' });
  });

  it('a non-zero exit keeps its code and stderr', async () => {
    const r = await run(fixture('exit-code'));
    expect(r).toMatchObject({ outcome: 'exit_nonzero', exitCode: 3 });
    expect(r.stderr.toString()).toBe('bad input\n');
  });

  it('any other exit code is exit_nonzero with the code as the guest gave it', async () => {
    // WASI only defines [0, 126); C's exit(255) and exit(-1) still must not look like a crash.
    expect(await run(fixture('exit-255'))).toMatchObject({ outcome: 'exit_nonzero', exitCode: 255, message: null });
    // The status is the guest's i32 read as signed: exit(-1) is -1, not 255 as a POSIX shell would say.
    expect(await run(fixture('exit-negative'))).toMatchObject({ outcome: 'exit_nonzero', exitCode: -1, message: null });
  });

  it('a call-free loop stopped by the deadline reports the fuel it burnt', async () => {
    // How fast this loop burns fuel here, from a run that fuel stops (its count is exact).
    const budget = 100_000_000;
    const metered = await run(fixture('infinite-loop'), { fuel: budget, timeoutMs: 10_000 });
    expect(metered).toMatchObject({ outcome: 'fuel_exhausted', fuelConsumed: budget });
    const r = await run(fixture('infinite-loop'), { fuel: 1e15, timeoutMs: 250 });
    expect(r.outcome).toBe('timeout');
    expect(r.fuelConsumed).toBeGreaterThan(1_000_000);
    // Same loop, same machine: the burn rates agree within what a busy CI box can skew.
    const ratio = r.fuelConsumed / r.durationMs / (budget / metered.durationMs);
    expect(ratio).toBeGreaterThan(0.25);
    expect(ratio).toBeLessThan(4);
  });

  it('a run can be cancelled', async () => {
    const controller = new AbortController();
    const aborted = abortOnceRunning(controller);
    const r = await run(fixture('infinite-loop'), { fuel: 1e15, timeoutMs: 10_000, signal: controller.signal });
    await aborted;
    expect(r.outcome).toBe('cancelled');
    expect(r.durationMs).toBeLessThan(2_000);
    expect(r.fuelConsumed).toBeGreaterThan(1_000_000);
  });

  it('the host is still fine afterwards', async () => {
    const r = await run(fixture('echo'), { stdin: 'still here' });
    expect(r.stdout.toString()).toBe('still here');
  });
});

describe('invalid modules are refused with a reason', () => {
  const refusal = async (bytes: Buffer) => {
    try {
      await sandbox.compile(bytes);
    } catch (err) {
      return err as SandboxError;
    }
    throw new Error('compile accepted an invalid module');
  };

  it('not WebAssembly at all', async () => {
    const err = await refusal(Buffer.from('#!/bin/sh\nrm -rf /\n'));
    expect(err).toMatchObject({ code: 'INVALID_MODULE', message: expect.stringMatching(/not a WebAssembly binary/) });
  });

  it('truncated WebAssembly', async () => {
    const bytes = fixture('echo');
    const err = await refusal(bytes.subarray(0, bytes.length - 5));
    expect(err.code).toBe('INVALID_MODULE');
    expect(err.message).toMatch(/failed to parse WebAssembly module/);
  });

  it('a module that is not a WASI command', async () => {
    expect((await refusal(fixture('no-start'))).message).toMatch(/does not export a `_start` function/);
  });

  it('a `_start` that is not () -> ()', async () => {
    expect((await refusal(fixture('start-with-params'))).message).toMatch(/`_start` must have type \(\) -> \(\)/);
  });

  it('a module that does not export its memory', async () => {
    expect((await refusal(fixture('no-memory'))).message).toMatch(/does not export its linear memory as `memory`/);
  });

  it('a module importing more than WASI preview 1', async () => {
    expect((await refusal(fixture('foreign-import'))).message).toMatch(/env::launch_missiles/);
  });

  it('bytes that do not match the SHA-256 the caller expects', async () => {
    await expect(sandbox.run({ module: fixture('echo'), moduleSha256: '0'.repeat(64), ...limits })).rejects.toMatchObject({
      code: 'HASH_MISMATCH',
    });
  });

  it('a hash that is not cached, without bytes', async () => {
    await expect(sandbox.run({ moduleSha256: 'f'.repeat(64), ...limits })).rejects.toMatchObject({ code: 'MODULE_NOT_CACHED' });
  });
});

describe('the compiled-module cache', () => {
  it('is bounded: the least recently used module is evicted', async () => {
    const small = loadSandbox(2);
    const [a, b, c] = await Promise.all(['echo', 'trap', 'exit-code'].map((n) => fixture(n)));
    const ha = (await small.compile(a!)).sha256;
    const hb = (await small.compile(b!)).sha256;
    expect(small.has(ha)).toBe(true); // touches a, so b is now the oldest
    const hc = (await small.compile(c!)).sha256;
    expect(small.cachedModules).toBe(2);
    expect([small.has(ha), small.has(hb), small.has(hc)]).toEqual([true, false, true]);
  });
});
