import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { existsSync, readFileSync } from 'node:fs';
import { setPriority } from 'node:os';
import type { Config } from './config';
import type { Logger } from './logger';

// Compiles uploaded WASM modules (to validate them) outside the calling process: each compile
// is a short-lived child process (lib/module-compiler-child.mjs) that exits when done, so
// whatever the compile allocated goes back to the OS with it. A compile bomb — a small module
// that costs cranelift seconds of CPU and a GiB of memory — meets:
//   - a wall-time bound: the child is killed (SIGKILL) past `timeoutMs`;
//   - a memory bound: the child's peak RSS (VmHWM, polled) past `memoryBytes` kills it
//     (RLIMIT_AS does not fit: Node alone reserves more than 1 GiB of address space);
//   - a thread bound: `threads` compile threads each (RAYON_NUM_THREADS), at a lower priority
//     (nice `nice`), so the process that asked keeps its cores for its own work;
//   - a concurrency bound: `concurrency` children at once, `queue` more waiting, and beyond
//     that an immediate COMPILER_BUSY (the API's 503 with Retry-After).
// One child per compile costs ~0.1 s of start-up; a reused child would keep the memory of the
// largest module it ever compiled (the README's "Uploads" section has the figures).

export interface CompiledModule {
  sha256: string;
  size: number;
}

export type ModuleCompileErrorCode =
  /** Not a valid WASI command; `message` says why (the addon's text). */
  | 'INVALID_MODULE'
  /** Compiling it went past a bound; `limit` says which. */
  | 'MODULE_TOO_COMPLEX'
  /** Every compile slot and queue place is taken; try again after `retryAfterSeconds`. */
  | 'COMPILER_BUSY'
  /** The compiler itself failed (could not start, crashed); not the module's fault as far as we know. */
  | 'COMPILER_FAILURE';

export class ModuleCompileError extends Error {
  constructor(
    readonly code: ModuleCompileErrorCode,
    message: string,
    readonly extra: { limit?: 'time' | 'memory'; retryAfterSeconds?: number } = {},
  ) {
    super(message);
    this.name = 'ModuleCompileError';
  }
}

export interface ModuleCompilerOptions {
  /** The sandbox addon (sandbox/build/hermes_sandbox.node). */
  addonPath: string;
  /** The sandbox's metering (`fuel` or `epoch`): compiled as the sandbox worker will. */
  metering?: string;
  timeoutMs: number;
  /** Peak RSS of the compiling process, Node and the addon included (~80 MiB of it). */
  memoryBytes: number;
  threads: number;
  concurrency: number;
  queue: number;
  /** Added niceness of the compiling process (0 to 19). */
  nice?: number;
  log?: Logger;
  /** How often the child's memory is looked at. */
  pollMs?: number;
}

export interface ModuleCompiler {
  /** Compiles and links `bytes` as the sandbox would; throws ModuleCompileError. */
  compile(bytes: Uint8Array): Promise<CompiledModule>;
  /** Compiles running and waiting now. */
  readonly load: { running: number; queued: number };
  /** Kills running compiles and refuses queued ones (COMPILER_FAILURE); later calls too. */
  close(): void;
}

const CHILD = fileURLToPath(new URL('./module-compiler-child.mjs', import.meta.url));
const MIB = 1024 * 1024;

export function moduleCompilerFromConfig(config: Config, log?: Logger): ModuleCompiler {
  return createModuleCompiler({
    addonPath: config.SANDBOX_ADDON_PATH,
    metering: config.SANDBOX_METERING,
    timeoutMs: config.SANDBOX_COMPILE_TIMEOUT_SECONDS * 1000,
    memoryBytes: config.SANDBOX_COMPILE_MEMORY_MB * MIB,
    threads: config.SANDBOX_COMPILE_THREADS,
    concurrency: config.SANDBOX_COMPILE_CONCURRENCY,
    queue: config.SANDBOX_COMPILE_QUEUE,
    nice: config.SANDBOX_COMPILE_NICE,
    log,
  });
}

/** Peak resident memory of a live process, in bytes; undefined when it cannot be read. */
function peakRss(pid: number): number | undefined {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

const seconds = (ms: number) => (ms % 1000 ? (ms / 1000).toFixed(1) : String(ms / 1000));

export function createModuleCompiler(opts: ModuleCompilerOptions): ModuleCompiler {
  // Said at start-up rather than at the first upload.
  if (!existsSync(opts.addonPath)) throw new Error(`no sandbox addon at ${opts.addonPath} (npm start and npm test build it)`);
  const pollMs = opts.pollMs ?? 20;
  let running = 0;
  let closed = false;
  const waiting: Array<{ start: () => void; refuse: (err: Error) => void }> = [];
  // When each running compile will have ended at the latest: a busy answer's Retry-After.
  const deadlines = new Set<number>();
  // Stops each running child (for close()).
  const stops = new Set<() => void>();

  function retryAfterSeconds(): number {
    const soonest = Math.min(...deadlines);
    return Math.max(1, Math.ceil((soonest - Date.now()) / 1000));
  }

  async function slot(): Promise<void> {
    if (closed) throw new ModuleCompileError('COMPILER_FAILURE', 'the module compiler is shut down');
    if (running < opts.concurrency) {
      running++;
      return;
    }
    if (waiting.length >= opts.queue) {
      throw new ModuleCompileError('COMPILER_BUSY', `every module compiler is busy (${running} compiling, ${waiting.length} waiting)`, {
        retryAfterSeconds: retryAfterSeconds(),
      });
    }
    // The finishing compile hands its slot over (running stays the same).
    await new Promise<void>((start, refuse) => waiting.push({ start, refuse }));
  }

  function release() {
    const next = waiting.shift();
    if (next) next.start();
    else running--;
  }

  function runChild(bytes: Uint8Array): Promise<CompiledModule> {
    return new Promise((resolve, reject) => {
      const started = Date.now();
      const deadline = started + opts.timeoutMs;
      deadlines.add(deadline);
      // A minimal environment: nothing of the parent's (NODE_OPTIONS, tsx's loader) applies.
      const child = spawn(process.execPath, [CHILD, opts.addonPath, JSON.stringify({ metering: opts.metering })], {
        stdio: ['pipe', 'pipe', 'pipe'],
        env: { PATH: process.env.PATH ?? '', RAYON_NUM_THREADS: String(opts.threads) },
      });
      let stopped: 'time' | 'memory' | 'closed' | undefined;
      let peak = 0;
      const stop = (why: NonNullable<typeof stopped>) => {
        stopped ??= why;
        child.kill('SIGKILL');
      };
      const stopClosed = () => stop('closed');
      stops.add(stopClosed);
      const timer = setTimeout(() => stop('time'), opts.timeoutMs);
      const poll = setInterval(() => {
        if (child.pid === undefined) return;
        peak = Math.max(peak, peakRss(child.pid) ?? 0);
        if (peak > opts.memoryBytes) stop('memory');
      }, pollMs);
      if (child.pid !== undefined && opts.nice) {
        try {
          setPriority(child.pid, opts.nice);
        } catch {
          // Not allowed here: it runs at our priority.
        }
      }
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let errBytes = 0;
      child.stdout!.on('data', (b: Buffer) => out.push(b));
      child.stderr!.on('data', (b: Buffer) => {
        if (errBytes < 4096) err.push(b);
        errBytes += b.length;
      });
      // A child that dies before reading everything closes its stdin: an EPIPE, told by 'close'.
      child.stdin!.on('error', () => {});
      child.stdin!.end(bytes);

      let spawnError: Error | undefined;
      child.on('error', (e) => {
        spawnError = e;
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        clearInterval(poll);
        deadlines.delete(deadline);
        stops.delete(stopClosed);
        const ms = Date.now() - started;
        const log = { ms, size: bytes.length, peakRssMiB: Math.round(peak / MIB), code, signal };
        if (stopped === 'time') {
          opts.log?.warn(log, 'module compile stopped: time bound');
          return reject(
            new ModuleCompileError('MODULE_TOO_COMPLEX', `compiling the module took longer than the ${seconds(opts.timeoutMs)} s allowed`, { limit: 'time' }),
          );
        }
        if (stopped === 'memory') {
          opts.log?.warn(log, 'module compile stopped: memory bound');
          return reject(
            new ModuleCompileError('MODULE_TOO_COMPLEX', `compiling the module needed more than the ${Math.round(opts.memoryBytes / MIB)} MiB allowed`, {
              limit: 'memory',
            }),
          );
        }
        if (stopped === 'closed') return reject(new ModuleCompileError('COMPILER_FAILURE', 'the module compiler is shut down'));
        const line = Buffer.concat(out).toString('utf8').trim().split('\n').pop() ?? '';
        let answer: { ok: boolean; sha256?: string; size?: number; code?: string; message?: string } | undefined;
        try {
          answer = code === 0 ? JSON.parse(line) : undefined;
        } catch {
          answer = undefined;
        }
        if (answer?.ok && typeof answer.sha256 === 'string' && typeof answer.size === 'number') {
          opts.log?.debug(log, 'module compiled');
          return resolve({ sha256: answer.sha256, size: answer.size });
        }
        if (answer && answer.code === 'INVALID_MODULE') return reject(new ModuleCompileError('INVALID_MODULE', answer.message ?? 'invalid module'));
        const why = spawnError?.message ?? answer?.message ?? (Buffer.concat(err).toString('utf8').trim().split('\n').slice(-3).join(' | ') || 'no output');
        opts.log?.error({ ...log, why }, 'module compiler failed');
        reject(new ModuleCompileError('COMPILER_FAILURE', `the module compiler failed (${signal ?? `exit ${code}`}): ${why}`));
      });
    });
  }

  return {
    async compile(bytes) {
      await slot();
      try {
        if (closed) throw new ModuleCompileError('COMPILER_FAILURE', 'the module compiler is shut down');
        return await runChild(bytes);
      } finally {
        release();
      }
    },
    get load() {
      return { running: running, queued: waiting.length };
    },
    close() {
      closed = true;
      for (const w of waiting.splice(0)) w.refuse(new ModuleCompileError('COMPILER_FAILURE', 'the module compiler is shut down'));
      for (const stop of stops) stop();
    },
  };
}
