import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { moduleCompilerFromConfig, type ModuleCompiler } from '../../lib/module-compiler';
import { compileBomb } from '../support/compile-bomb';
import { eventually } from '../support/eventually';
import { registerUser, startApiInstance, startPlatform, uploadAgent, type Platform } from '../support/platform';
import { watToWasm } from '../../sandbox';
import { exampleAgent, withNonce } from '../support/wasm';

// Uploads are compiled in a bounded child process, not in the API (issue 13, "compile bombs"):
// a module too dear to compile is a 413 that says which bound it hit, the API keeps answering
// while a compile runs, and a full compiler is a 503 with Retry-After.
let platform: Platform;
// A second API instance on the same services whose compiler has a short time bound, one slot
// and no queue (the platform's own has a small memory bound).
let strict: { base: string; compiler: ModuleCompiler; close(): Promise<unknown> };

beforeAll(async () => {
  platform = await startPlatform({ SANDBOX_COMPILE_MEMORY_MB: 192, SANDBOX_COMPILE_TIMEOUT_SECONDS: 120 });
  const compiler = moduleCompilerFromConfig(
    { ...platform.config, SANDBOX_COMPILE_TIMEOUT_SECONDS: 5, SANDBOX_COMPILE_MEMORY_MB: 4096, SANDBOX_COMPILE_CONCURRENCY: 1, SANDBOX_COMPILE_QUEUE: 0 },
    platform.deps.log,
  );
  const instance = await startApiInstance({ ...platform.deps, moduleCompiler: compiler });
  strict = { base: instance.base, compiler, close: instance.close };
});
afterAll(async () => {
  strict?.compiler.close();
  await strict?.close();
  await platform?.close();
});

// Made up front: generating one takes a second or so, and the tests' requests should not wait on it.
// Straight-line code over a thousand live locals: seconds of register allocation (measured:
// ~17 s of CPU for 1 MiB in one function), little memory.
const timeBombs = [2, 3].map((seed) => compileBomb({ shape: 'locals', bytes: 1024 * 1024, functionBytes: 1024 * 1024, seed }));
// One function of deeply nested blocks: ~1 GiB of compiler memory for 1 MiB.
const memoryBomb = compileBomb({ shape: 'blocks', bytes: 1024 * 1024, functionBytes: 1024 * 1024, seed: 1 });

describe('compiling uploads', () => {
  it('refuses a module whose compile needs more memory than allowed: 413 MODULE_TOO_COMPLEX naming the file', async () => {
    const user = await registerUser(platform.api);
    const res = await uploadAgent(platform.base, user.token, memoryBomb, { name: 'memory bomb' });
    expect(res.status).toBe(413);
    expect(res.body.error).toMatchObject({ code: 'MODULE_TOO_COMPLEX', details: [{ field: 'file' }] });
    expect(res.body.error.message).toMatch(/^file: compiling the module needed more than the 192 MiB allowed/);
    // Nothing was stored.
    const mine = await platform.deps.knex('agents').where({ owner_id: user.id }).count<{ count: string }[]>('* as count');
    expect(Number(mine[0]!.count)).toBe(0);
  });

  it('refuses a module whose compile takes longer than allowed, and the API answers other requests meanwhile', async () => {
    const user = await registerUser(platform.api);
    let settled = false;
    const bomb = uploadAgent(strict.base, user.token, timeBombs[0]!, { name: 'time bomb' }).finally(() => (settled = true));
    await eventually(() => strict.compiler.load.running === 1, { message: 'the compile started' });

    // The event loop is free: a request that needs Postgres is answered while the compile runs.
    const other = await fetch(`${strict.base}/api/v1/agents?limit=1`);
    expect(other.status).toBe(200);
    expect(settled).toBe(false);

    const res = await bomb;
    expect(res.status).toBe(413);
    expect(res.body.error).toMatchObject({ code: 'MODULE_TOO_COMPLEX', details: [{ field: 'file' }] });
    expect(res.body.error.message).toMatch(/^file: compiling the module took longer than the 5 s allowed/);
  });

  it('answers 503 with Retry-After when every compile slot and queue place is taken, and compiles again once free', async () => {
    const user = await registerUser(platform.api);
    const bomb = uploadAgent(strict.base, user.token, timeBombs[1]!, { name: 'time bomb' });
    await eventually(() => strict.compiler.load.running === 1, { message: 'the compile started' });

    const busy = await uploadAgent(strict.base, user.token, withNonce(exampleAgent('text-stats')), { name: 'text stats' });
    expect(busy.status).toBe(503);
    expect(busy.body.error.code).toBe('UNAVAILABLE');
    expect(Number(busy.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);

    expect((await bomb).status).toBe(413);
    const again = await uploadAgent(strict.base, user.token, withNonce(exampleAgent('text-stats')), { name: 'text stats' });
    expect(again.status).toBe(201);
  });

  it('still uploads a valid module, and refuses an invalid one with the same 400 as before', async () => {
    const user = await registerUser(platform.api);
    const wasm = withNonce(exampleAgent('json-transform'));
    const res = await uploadAgent(platform.base, user.token, wasm, { name: 'json transform' });
    expect(res.status).toBe(201);
    expect(res.body.binary.size_bytes).toBe(wasm.length);

    const bad = await uploadAgent(platform.base, user.token, Buffer.from('not wasm at all'), { name: 'broken' });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({ code: 'INVALID_MODULE', details: [{ field: 'file' }] });
    expect(bad.body.error.message).toMatch(/^file: not a WebAssembly binary/);
  });

  it("refuses at upload a module the sandbox worker's instance pool could never run (more tables than a slot holds)", async () => {
    const user = await registerUser(platform.api);
    const tables = Array.from({ length: 9 }, () => '(table 1 funcref)').join(' ');
    const wasm = watToWasm(platform.config.SANDBOX_ADDON_PATH, `(module (memory (export "memory") 1) ${tables} (func (export "_start")))`);
    const res = await uploadAgent(platform.base, user.token, wasm, { name: 'many-tables' });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: 'INVALID_MODULE', details: [{ field: 'file' }] });
  });
});
