import { Context } from '@temporalio/activity';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { validationStatus, type ValidateDeliveryRequest, type Validation, type ValidationCheck } from '../domain/acceptance';
import { outputText } from '../domain/execution';
import { createOutputChecks } from '../lib/output-checks';
import { BinaryHashMismatch, sha256Hex, type BinaryStore } from '../lib/binary-store';
import type { Config } from '../lib/config';
import { SandboxError, type WasmSandbox } from '../sandbox';

export interface ValidationActivityDeps {
  sandbox: WasmSandbox;
  binaries: BinaryStore;
  config: Pick<Config, 'SANDBOX_CACHE_DIR' | 'VERIFIER_FUEL' | 'VERIFIER_MEMORY_BYTES' | 'VERIFIER_TIMEOUT_SECONDS' | 'VERIFIER_OUTPUT_BYTES'>;
}

const HEARTBEAT_MS = 2_000;
const STDERR_SHOWN = 4 * 1024;

// A delivery's acceptance checks, on the sandbox task queue (the verifier runs in wasmtime):
// the output against the contract's output_schema (ajv), then — if that passed — the verifier
// module with {contract, delivery} as JSON on stdin, under its own limits (VERIFIER_*). Exit 0
// passes; any other exit fails, and its stdout is the report. A verifier that traps, runs out
// of fuel, memory, time or output room, or cannot be fetched, is an `error`: the verifier's
// fault, not the agent's. Nothing is written here: the workflow records the result
// (recordValidation), so a result is stored once, whichever attempt produced it.
export function createValidationActivities({ sandbox, binaries, config }: ValidationActivityDeps) {
  // In a thread with a deadline (lib/output-checks.ts): a user's pattern may backtrack for ever.
  const outputs = createOutputChecks({ timeoutMs: config.VERIFIER_TIMEOUT_SECONDS * 1000 });
  const cachePath = (sha: string) => join(config.SANDBOX_CACHE_DIR, `${sha}.wasm`);

  async function loadModule(url: string, sha256: string): Promise<Buffer> {
    try {
      const cached = await readFile(cachePath(sha256));
      if (sha256Hex(cached) === sha256) return cached;
      await rm(cachePath(sha256), { force: true });
    } catch {
      // not cached yet
    }
    const bytes = await binaries.get(binaries.keyOf(url), sha256);
    await mkdir(config.SANDBOX_CACHE_DIR, { recursive: true });
    // Two runs of one module may fetch it at once: each writes its own file, then renames.
    const tmp = `${cachePath(sha256)}.${process.pid}.${randomUUID()}.tmp`;
    await writeFile(tmp, bytes);
    await rename(tmp, cachePath(sha256));
    return bytes;
  }

  async function runVerifier(req: ValidateDeliveryRequest, signal: AbortSignal): Promise<{ check: ValidationCheck; report: string | null }> {
    const verifier = req.verifier!;
    const base = { name: 'verifier' as const, verifier_id: verifier.id, verifier_sha256: verifier.sha256 };
    let module: Buffer | undefined;
    if (!sandbox.has(verifier.sha256)) {
      try {
        module = await loadModule(verifier.url, verifier.sha256);
      } catch (err) {
        // Gone or altered in S3: no retry brings it back. Anything else (S3 down) is retried.
        if (err instanceof BinaryHashMismatch || (err as { name?: string }).name === 'NoSuchKey') {
          return { check: { ...base, status: 'error', message: `the verifier could not be fetched: ${(err as Error).message}` }, report: null };
        }
        throw err;
      }
    }
    let result;
    try {
      result = await sandbox.run({
        module,
        moduleSha256: verifier.sha256,
        stdin: JSON.stringify(req.input),
        fuel: config.VERIFIER_FUEL,
        memoryBytes: config.VERIFIER_MEMORY_BYTES,
        outputBytes: config.VERIFIER_OUTPUT_BYTES,
        timeoutMs: config.VERIFIER_TIMEOUT_SECONDS * 1000,
        signal,
      });
    } catch (err) {
      if (err instanceof SandboxError && (err.code === 'INVALID_MODULE' || err.code === 'HASH_MISMATCH')) {
        return { check: { ...base, status: 'error', message: `the verifier could not be run: ${err.message}` }, report: null };
      }
      throw err;
    }
    const report = outputText(result.stdout);
    const figures = {
      outcome: result.outcome,
      exit_code: result.exitCode,
      // Fuel only when the sandbox counts it (SANDBOX_METERING=fuel); CPU time always.
      fuel_consumed: result.metering === 'fuel' ? result.fuelConsumed : null,
      cpu_time_us: result.cpuTimeUs,
      duration_ms: Math.round(result.durationMs * 1000) / 1000,
      stderr: result.stderr.length ? outputText(result.stderr.subarray(0, STDERR_SHOWN)) : null,
    };
    if (result.outcome === 'ok') return { check: { ...base, ...figures, status: 'passed', message: 'the verifier exited 0' }, report };
    if (result.outcome === 'exit_nonzero') {
      return { check: { ...base, ...figures, status: 'failed', message: `the verifier exited ${result.exitCode}${firstLine(report)}` }, report };
    }
    if (result.outcome === 'cancelled') throw new Error('the verifier run was cancelled');
    const why = result.message ? `: ${result.message}` : '';
    return { check: { ...base, ...figures, status: 'error', message: `the verifier itself failed (${result.outcome}${why}); this is not held against the agent` }, report };
  }

  return {
    async validateDelivery(req: ValidateDeliveryRequest): Promise<Validation> {
      const ctx = Context.current();
      const beat = setInterval(() => ctx.heartbeat(), HEARTBEAT_MS);
      try {
        const checks: ValidationCheck[] = [];
        let report: string | null = null;
        if (req.outputSchema) checks.push(await outputs.check(req.outputSchema, req.input.delivery.output));
        if (req.verifier) {
          if (checks.some((c) => c.status !== 'passed')) {
            checks.push({ name: 'verifier', status: 'skipped', message: 'not run: the output did not pass its schema', verifier_id: req.verifier.id, verifier_sha256: req.verifier.sha256 });
          } else {
            const ran = await runVerifier(req, ctx.cancellationSignal);
            checks.push(ran.check);
            report = ran.report;
          }
        }
        return { status: validationStatus(checks), checks, report, validated_at: new Date().toISOString() };
      } finally {
        clearInterval(beat);
      }
    },
  };
}

function firstLine(report: string): string {
  const line = report.trim().split('\n')[0]?.trim() ?? '';
  if (!line) return '';
  return `: ${line.length > 200 ? `${line.slice(0, 200)}…` : line}`;
}

export type ValidationActivities = ReturnType<typeof createValidationActivities>;
