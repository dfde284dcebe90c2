import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';

// Typed wrapper over the native addon (sandbox/src, built by scripts/lib.sh into
// ~/.cache/hermes and linked at sandbox/build/hermes_sandbox.node).

export const SANDBOX_OUTCOMES = [
  'ok',
  'exit_nonzero',
  'trap',
  'fuel_exhausted',
  'timeout',
  'memory_limit',
  'output_limit',
  'cancelled',
] as const;
export type SandboxOutcome = (typeof SANDBOX_OUTCOMES)[number];

export interface RunLimits {
  /** wasmtime fuel units; roughly one per wasm instruction. */
  fuel: number;
  memoryBytes: number;
  timeoutMs: number;
  /** Cap for stdout and for stderr, each; writing past it stops the run (`output_limit`). */
  outputBytes: number;
}

export interface RunOptions extends RunLimits {
  /** Module bytes; may be omitted when `moduleSha256` is already compiled in this sandbox. */
  module?: Uint8Array;
  /** With `module`, the run is refused unless the bytes hash to this. */
  moduleSha256?: string;
  stdin?: Uint8Array | string;
  args?: string[];
  env?: Record<string, string>;
  signal?: AbortSignal;
}

export type SandboxMetering = 'epoch' | 'fuel';

export interface SandboxOptions {
  /** Compiled modules kept, least recently used evicted first (default 64). */
  cacheCapacity?: number;
  /**
   * How compute is metered. Both stop every run at its wall-clock deadline (epoch
   * interruption) and report its CPU time. `fuel` also counts wasmtime fuel (about one unit
   * per instruction), enforces the run's fuel budget (`fuel_exhausted`) and reports
   * `fuelConsumed`; compiled code pays for the counting. `epoch` (default) does not count
   * fuel: `fuelConsumed` is 0 and the `fuel` limit is not enforced.
   */
  metering?: SandboxMetering;
  /** Instance slots of wasmtime's pooling allocator (default 64); 0 maps resources per run. */
  poolSize?: number;
  /** Largest memoryBytes a run may ask for (default 4 GiB). */
  maxMemoryBytes?: number;
}

export interface RunResult {
  outcome: SandboxOutcome;
  exitCode: number | null;
  stdout: Buffer;
  stderr: Buffer;
  /** Fuel burnt; 0 when the sandbox meters by epoch only (see `metering`). */
  fuelConsumed: number;
  durationMs: number;
  /** CPU time spent on the run (instantiation, guest code, WASI calls), in microseconds. */
  cpuTimeUs: number;
  metering: SandboxMetering;
  /** Trap message, or what stopped the run; null when it ran to completion. */
  message: string | null;
  moduleSha256: string;
}

export class SandboxError extends Error {
  constructor(
    readonly code: 'INVALID_MODULE' | 'HASH_MISMATCH' | 'MODULE_NOT_CACHED' | 'INVALID_WAT' | 'SANDBOX_FAILURE',
    message: string,
  ) {
    super(message);
    this.name = 'SandboxError';
  }
}

interface NativeRunResult {
  outcome: string;
  exitCode?: number | null;
  stdout: Buffer;
  stderr: Buffer;
  fuelConsumed: number;
  durationMs: number;
  cpuTimeUs: number;
  metering: string;
  message?: string | null;
  moduleSha256: string;
}

interface NativeSandbox {
  readonly metering: string;
  readonly poolSize: number;
  readonly poolError: string | null;
  compile(module: Buffer): Promise<{ sha256: string; size: number }>;
  hasModule(sha256: string): boolean;
  readonly cachedModules: number;
  cancel(runId: string): boolean;
  run(request: Record<string, unknown>): Promise<NativeRunResult>;
  runCached(request: Record<string, unknown>): NativeRunResult | Promise<NativeRunResult>;
}

interface NativeAddon {
  Sandbox: new (options?: SandboxOptions) => NativeSandbox;
  watToWasm(text: string): Buffer;
}

const loaded = new Map<string, NativeAddon>();
function loadAddon(path: string): NativeAddon {
  let addon = loaded.get(path);
  if (!addon) {
    try {
      addon = createRequire(import.meta.url)(path) as NativeAddon;
    } catch (err) {
      throw new Error(`cannot load the sandbox addon at ${path} (run npm start or npm test to build it): ${String(err)}`);
    }
    loaded.set(path, addon);
  }
  return addon;
}

// The addon reports failures as "CODE: message"; turn them into typed errors.
function translate(err: unknown): never {
  const message = err instanceof Error ? err.message : String(err);
  const match = /^(INVALID_MODULE|HASH_MISMATCH|MODULE_NOT_CACHED|INVALID_WAT): (.*)$/s.exec(message);
  if (match) throw new SandboxError(match[1] as SandboxError['code'], match[2]!);
  throw new SandboxError('SANDBOX_FAILURE', message);
}

const toBuffer = (b: Uint8Array) => (Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength));

export class WasmSandbox {
  private constructor(private readonly native: NativeSandbox) {}

  static load(addonPath: string, options: SandboxOptions = {}): WasmSandbox {
    const addon = loadAddon(addonPath);
    return new WasmSandbox(
      new addon.Sandbox({
        cacheCapacity: options.cacheCapacity,
        metering: options.metering,
        poolSize: options.poolSize,
        maxMemoryBytes: options.maxMemoryBytes,
      }),
    );
  }

  get metering(): SandboxMetering {
    return this.native.metering as SandboxMetering;
  }

  /** Instance slots of the pooling allocator; 0 when every run maps its own resources. */
  get poolSize(): number {
    return this.native.poolSize;
  }

  /** Why the pooling allocator is off although asked for (address space refused), if it is. */
  get poolError(): string | null {
    return this.native.poolError ?? null;
  }

  /** Compile and link against WASI preview 1; throws SandboxError('INVALID_MODULE') saying why. */
  async compile(module: Uint8Array): Promise<{ sha256: string; size: number }> {
    return this.native.compile(toBuffer(module)).catch(translate);
  }

  has(sha256: string): boolean {
    return this.native.hasModule(sha256);
  }

  get cachedModules(): number {
    return this.native.cachedModules;
  }

  async run(options: RunOptions): Promise<RunResult> {
    const { signal } = options;
    signal?.throwIfAborted();
    // Only a run that can be cancelled needs an id (and a place in the addon's table of runs).
    const runId = signal ? randomUUID() : undefined;
    const onAbort = () => this.native.cancel(runId!);
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const request = {
        module: options.module ? toBuffer(options.module) : undefined,
        moduleSha256: options.moduleSha256,
        stdin: typeof options.stdin === 'string' ? Buffer.from(options.stdin) : options.stdin && toBuffer(options.stdin),
        args: options.args,
        env: options.env,
        fuel: options.fuel,
        memoryBytes: options.memoryBytes,
        timeoutMs: options.timeoutMs,
        outputBytes: options.outputBytes,
        runId,
      };
      let r: NativeRunResult;
      try {
        // A compiled module by its hash starts on this thread and, if it is done within its
        // first slice (fuel metering: one fuel chunk), answers without a hand-off to a worker.
        r = await (request.module ? this.native.run(request) : this.native.runCached(request));
      } catch (err) {
        translate(err);
      }
      return {
        outcome: r.outcome as SandboxOutcome,
        exitCode: r.exitCode ?? null,
        stdout: r.stdout,
        stderr: r.stderr,
        fuelConsumed: r.fuelConsumed,
        durationMs: r.durationMs,
        cpuTimeUs: r.cpuTimeUs,
        metering: r.metering as SandboxMetering,
        message: r.message ?? null,
        moduleSha256: r.moduleSha256,
      };
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }
}

export function watToWasm(addonPath: string, text: string): Buffer {
  try {
    return loadAddon(addonPath).watToWasm(text);
  } catch (err) {
    return translate(err);
  }
}
