import { ApplicationFailure, CancelledFailure, Context } from '@temporalio/activity';
import type { Knex } from 'knex';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { lockContract } from '../db/contract-transition';
import { executionFailureType, exactOutput, type ExecuteAgentRequest, type ExecutionReport } from '../domain/execution';
import type { TaskOutcome } from '../domain/statuses';
import { BinaryHashMismatch, sha256Hex, type BinaryStore } from '../lib/binary-store';
import type { Config } from '../lib/config';
import { rooms } from '../lib/events';
import { sandboxMetrics, type SandboxMetrics } from '../lib/metrics';
import { appendEvents } from '../lib/outbox';
import { appendAudit } from '../lib/audit';
import { SandboxError, type WasmSandbox } from '../sandbox';
import { Registry } from 'prom-client';
import { rejectingBadData } from './data-errors';
import { createValidationActivities, type ValidationActivityDeps } from './validate-delivery';

export interface SandboxActivityDeps {
  knex: Knex;
  sandbox: WasmSandbox;
  binaries: BinaryStore;
  config: Pick<Config, 'SANDBOX_CACHE_DIR' | 'SANDBOX_FUEL' | 'SANDBOX_MEMORY_BYTES' | 'SANDBOX_OUTPUT_BYTES'> & ValidationActivityDeps['config'];
  /** Where runs are counted (the sandbox worker's /metrics); tests that do not read them get a registry of their own. */
  metrics?: SandboxMetrics;
}

const HEARTBEAT_MS = 2_000;

/** What a run produced, before it is recorded: the guest's output as the exact bytes. */
interface RunRecord extends Pick<ExecutionReport, 'outcome' | 'exitCode' | 'durationMs' | 'fuelConsumed' | 'message'> {
  stdout: Buffer;
  stderr: Buffer;
  /** CPU time of the run; absent when nothing ran. */
  cpuTimeUs?: number;
  /** Without fuel metering there is no fuel figure to record (NULL, not 0). */
  fuelCounted?: boolean;
}

const NO_OUTPUT = Buffer.alloc(0);

/** What the guest reads on stdin: the request's input as JSON. */
const stdinOf = (req: ExecuteAgentRequest) => JSON.stringify(req.input);

// Runs on the sandbox task queue (workers/sandbox.ts). Infrastructure faults (S3, Postgres)
// throw ordinary errors and are retried; anything the guest did is deterministic and fails
// non-retryably after its task_results row is written.
export function createSandboxActivities({ knex, sandbox, binaries, config, metrics = sandboxMetrics(new Registry()) }: SandboxActivityDeps) {
  // execution:progress for the contract's owner, through the outbox so it keeps its place among
  // the contract's other events (a task without a contract is silent).
  const progress = async (trx: Knex.Transaction, req: ExecuteAgentRequest, data: Record<string, unknown>) => {
    if (!req.contractId) return;
    await lockContract(trx, req.contractId);
    await appendEvents(trx, req.contractId, [
      { type: 'execution:progress', rooms: [rooms.contract(req.contractId)], data: { contract_id: req.contractId, agent_id: req.agentId, ...data } },
    ]);
  };
  const cachePath = (sha: string) => join(config.SANDBOX_CACHE_DIR, `${sha}.wasm`);

  // Local disk cache in front of S3; every byte is checked against the hash before use.
  async function loadBinary(binaryUrl: string, sha256: string): Promise<Buffer> {
    try {
      const cached = await readFile(cachePath(sha256));
      if (sha256Hex(cached) === sha256) return cached;
      await rm(cachePath(sha256), { force: true });
    } catch {
      // not cached yet
    }
    const bytes = await binaries.get(binaries.keyOf(binaryUrl), sha256);
    await mkdir(config.SANDBOX_CACHE_DIR, { recursive: true });
    // Two runs of one module may fetch it at once: each writes its own file, then renames.
    const tmp = `${cachePath(sha256)}.${process.pid}.${randomUUID()}.tmp`;
    await writeFile(tmp, bytes);
    await rename(tmp, cachePath(sha256));
    return bytes;
  }

  // task_results keeps the guest's bytes exactly (bytea; Postgres derives their SHA-256 and
  // length). The report for the workflow carries text it can store and parse, plus that hash
  // and length and whether the text is exact. A finished run's progress event is written with it.
  async function record(req: ExecuteAgentRequest, attempt: number, row: RunRecord, announce = false): Promise<ExecutionReport> {
    return knex.transaction(async (trx) => {
      if (announce) {
        await progress(trx, req, { phase: 'finished', attempt, outcome: row.outcome, duration_ms: row.durationMs, fuel: row.fuelConsumed });
      }
      return insertRun(trx, req, attempt, row);
    });
  }

  async function insertRun(trx: Knex.Transaction, req: ExecuteAgentRequest, attempt: number, row: RunRecord): Promise<ExecutionReport> {
    const [inserted] = await trx('task_results')
      .insert({
        agent_id: req.agentId,
        contract_id: req.contractId ?? null,
        task_id: req.taskId ?? null,
        round: req.round ?? 1,
        attempt,
        outcome: row.outcome,
        exit_code: row.exitCode,
        stdout: row.stdout,
        stderr: row.stderr,
        duration_ms: Math.round(row.durationMs * 1000) / 1000,
        fuel_consumed: row.fuelCounted === false ? null : row.fuelConsumed,
        cpu_time_us: row.cpuTimeUs ?? null,
        error: row.message,
      })
      .onConflict(knex.raw('(contract_id, task_id, round, attempt)'))
      .merge()
      .returning(['id', 'stdout_sha256', 'stdout_bytes', 'stderr_sha256', 'stderr_bytes']);
    // A contract's run is a fact its money depends on: what ran (the module's SHA-256, checked
    // before the run), on what (the SHA-256 of the exact stdin bytes), what it produced and cost.
    if (req.contractId) {
      await appendAudit(
        trx,
        req.contractId,
        'execution',
        {
          task_result_id: inserted.id,
          agent_id: req.agentId,
          round: req.round ?? 1,
          attempt,
          module_sha256: req.binaryHash,
          input_sha256: sha256Hex(Buffer.from(stdinOf(req))),
          outcome: row.outcome,
          exit_code: row.exitCode,
          stdout_sha256: inserted.stdout_sha256,
          stdout_bytes: inserted.stdout_bytes,
          stderr_sha256: inserted.stderr_sha256,
          stderr_bytes: inserted.stderr_bytes,
          // The run's cost: fuel when the sandbox counts it (else null), and its CPU time.
          fuel_consumed: row.fuelCounted === false ? null : Number(row.fuelConsumed),
          cpu_time_us: row.cpuTimeUs ?? null,
          duration_ms: Math.round(row.durationMs * 1000) / 1000,
          message: row.message,
        },
        `execution/${req.round ?? 1}/${attempt}`,
      );
    }
    const stdout = exactOutput(row.stdout);
    const stderr = exactOutput(row.stderr);
    return {
      taskResultId: inserted.id as string,
      attempt,
      outcome: row.outcome,
      exitCode: row.exitCode,
      stdout: stdout.text,
      stdoutEncoding: stdout.encoding,
      stderr: stderr.text,
      stderrEncoding: stderr.encoding,
      stdoutSha256: inserted.stdout_sha256 as string,
      stdoutBytes: inserted.stdout_bytes as number,
      stderrSha256: inserted.stderr_sha256 as string,
      stderrBytes: inserted.stderr_bytes as number,
      durationMs: row.durationMs,
      fuelConsumed: row.fuelConsumed,
      message: row.message,
    };
  }

  async function refuseBinary(req: ExecuteAgentRequest, attempt: number, type: string, message: string): Promise<never> {
    metrics.runs.inc({ outcome: 'error' });
    await record(req, attempt, {
      outcome: 'error',
      exitCode: null,
      stdout: NO_OUTPUT,
      stderr: NO_OUTPUT,
      durationMs: 0,
      fuelConsumed: 0,
      message,
    });
    throw ApplicationFailure.nonRetryable(message, type);
  }

  return rejectingBadData({
    // A delivery's acceptance checks run here too: the verifier needs wasmtime.
    ...createValidationActivities({ sandbox, binaries, config }),
    async executeAgent(req: ExecuteAgentRequest): Promise<ExecutionReport> {
      const ctx = Context.current();
      const attempt = ctx.info.attempt;
      const beat = setInterval(() => ctx.heartbeat({ phase: 'running' }), HEARTBEAT_MS);
      try {
        ctx.heartbeat({ phase: 'fetching' });
        let module: Buffer | undefined;
        if (!sandbox.has(req.binaryHash)) {
          try {
            module = await loadBinary(req.binaryUrl, req.binaryHash);
          } catch (err) {
            if (err instanceof BinaryHashMismatch) {
              return await refuseBinary(req, attempt, 'BINARY_HASH_MISMATCH', err.message);
            }
            throw err;
          }
        }
        await knex.transaction((trx) => progress(trx, req, { phase: 'running', attempt }));
        let result;
        try {
          result = await sandbox.run({
            module,
            moduleSha256: req.binaryHash,
            stdin: stdinOf(req),
            fuel: config.SANDBOX_FUEL,
            memoryBytes: config.SANDBOX_MEMORY_BYTES,
            outputBytes: config.SANDBOX_OUTPUT_BYTES,
            timeoutMs: req.timeoutMs,
            signal: ctx.cancellationSignal,
          });
        } catch (err) {
          if (err instanceof SandboxError && err.code === 'INVALID_MODULE') {
            return await refuseBinary(req, attempt, 'INVALID_MODULE', err.message);
          }
          throw err;
        }
        // Counted when wasmtime answers, before the record: a run that happened is a run.
        metrics.runs.inc({ outcome: result.outcome });
        metrics.duration.observe({ outcome: result.outcome }, result.durationMs / 1000);
        if (result.metering === 'fuel') metrics.fuel.observe({ outcome: result.outcome }, result.fuelConsumed);
        metrics.cpu.observe({ outcome: result.outcome }, result.cpuTimeUs / 1e6);
        const run: RunRecord = {
          outcome: result.outcome as TaskOutcome,
          exitCode: result.exitCode,
          stdout: result.stdout,
          stderr: result.stderr,
          durationMs: result.durationMs,
          fuelConsumed: result.fuelConsumed,
          cpuTimeUs: result.cpuTimeUs,
          fuelCounted: result.metering === 'fuel',
          message: result.message,
        };
        const report = await record(req, attempt, run, true);
        if (result.outcome === 'cancelled') throw new CancelledFailure('the sandbox run was cancelled');
        if (result.outcome !== 'ok') {
          const why = result.message ?? `exited with status ${result.exitCode}`;
          throw ApplicationFailure.create({
            type: executionFailureType(result.outcome),
            message: `agent run ended with ${result.outcome}: ${why}`,
            nonRetryable: true,
            details: [report],
          });
        }
        return report;
      } finally {
        clearInterval(beat);
      }
    },
  });
}

export type SandboxActivities = ReturnType<typeof createSandboxActivities>;
