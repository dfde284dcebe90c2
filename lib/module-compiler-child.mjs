// One compile in a process of its own (lib/module-compiler.ts starts it): the module's bytes
// on stdin, one JSON line on stdout, then exit. Plain JavaScript run by plain `node`, not tsx,
// so it starts in tens of milliseconds on any Node the API runs on; hence no project imports.
//
//   node lib/module-compiler-child.mjs <addon path> [<Sandbox options as JSON>]   < module.wasm
//   → {"ok":true,"sha256":"…","size":123}  or  {"ok":false,"code":"INVALID_MODULE","message":"…"}
//
// Its parent bounds it: wall time (SIGKILL), memory (RSS polled, SIGKILL) and compile threads
// (RAYON_NUM_THREADS, which sizes the pool wasmtime's parallel compilation runs on).
import { createRequire } from 'node:module';

const addonPath = process.argv[2];
if (!addonPath) {
  process.stderr.write('usage: module-compiler-child.mjs <addon path> [<options JSON>]\n');
  process.exit(2);
}

// If the parent dies (killed outright), a compile bomb must not run on without it.
const parent = process.ppid;
setInterval(() => process.ppid !== parent && process.exit(1), 500).unref();

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const bytes = Buffer.concat(chunks);

const addon = createRequire(import.meta.url)(addonPath);
let answer;
try {
  // One module; the caller's metering, since fuel metering compiles different code; and a
  // one-slot instance pool as the sandbox worker's, whose limits (tables, instance size) are
  // checked at compile: a module the worker could never run is refused here, not on every run.
  const options = { ...JSON.parse(process.argv[3] ?? '{}'), cacheCapacity: 1, poolSize: 1 };
  const compiled = await new addon.Sandbox(options).compile(bytes);
  answer = { ok: true, sha256: compiled.sha256, size: compiled.size };
} catch (err) {
  // The addon reports failures as "CODE: message".
  const message = err instanceof Error ? err.message : String(err);
  const match = /^([A-Z_]+): (.*)$/s.exec(message);
  answer = match ? { ok: false, code: match[1], message: match[2] } : { ok: false, code: 'SANDBOX_FAILURE', message };
}
process.stdout.write(`${JSON.stringify(answer)}\n`, () => process.exit(0));
