import type { TaskOutcome } from './statuses';
import { isStorable } from './text';

// Shapes and rules for running an agent's binary, shared by the workflows (deterministic,
// no I/O) and the sandbox activities.

/** Which binary to run and how long it may take; decided once, recorded in history. */
export interface ExecutionPlan {
  agentId: string;
  binaryHash: string;
  binaryUrl: string;
  /** Wall-clock budget of the run inside the sandbox. */
  timeoutMs: number;
  taskQueue: string;
}

export interface ExecuteAgentRequest extends ExecutionPlan {
  contractId?: string;
  taskId?: string;
  /**
   * The contract's award round (1, then +1 per re-award; a task has only 1). With the
   * activity attempt it keys the run's task_results row, so a re-awarded agent's run never
   * overwrites an earlier agent's. Absent means 1.
   */
  round?: number;
  /** Written to the guest's stdin as JSON. */
  input: unknown;
}

export interface ExecutionReport {
  taskResultId: string;
  attempt: number;
  outcome: TaskOutcome;
  exitCode: number | null;
  /**
   * The guest's stdout as text that can be stored and parsed: exact when `stdoutExact`, else
   * with NUL and invalid UTF-8 replaced by U+FFFD (`outputText`). The exact bytes are in the
   * task_results row (`taskResultId`), which the API serves byte for byte.
   */
  stdout: string;
  /** The same for stderr. */
  stderr: string;
  // The exact output, described: SHA-256 (hex) and length of the bytes the guest wrote, and
  // whether the text above is those bytes. Absent in reports recorded before outputs were
  // stored byte-exact (a replayed history may hold one).
  stdoutSha256?: string;
  stdoutBytes?: number;
  stdoutExact?: boolean;
  stderrSha256?: string;
  stderrBytes?: number;
  stderrExact?: boolean;
  durationMs: number;
  fuelConsumed: number;
  message: string | null;
}

/**
 * Output bytes as text when the text is exactly those bytes: valid UTF-8 (so no lone
 * surrogates) without NUL, which Postgres text and JSON both carry unchanged; else null.
 * A leading byte-order mark is kept, not swallowed.
 */
export function exactText(bytes: Uint8Array): string | null {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    return null;
  }
  return text.includes('\u0000') ? null : text;
}

/**
 * Output bytes as text that can always be stored and parsed, for the workflow: the exact text
 * when there is one, else invalid UTF-8 and NUL each become U+FFFD. Lossy by design; the exact
 * bytes are kept elsewhere (task_results).
 */
export function outputText(bytes: Uint8Array): string {
  return exactText(bytes) ?? new TextDecoder('utf-8', { ignoreBOM: true }).decode(bytes).replace(/\u0000/g, '\uFFFD');
}

/** Failure types of executeAgent that a retry cannot fix: the same input fails the same way. */
export const DETERMINISTIC_EXECUTION_FAILURES = [
  'SANDBOX_EXIT_NONZERO',
  'SANDBOX_TRAP',
  'SANDBOX_FUEL_EXHAUSTED',
  'SANDBOX_MEMORY_LIMIT',
  'SANDBOX_OUTPUT_LIMIT',
  'SANDBOX_TIMEOUT',
  'BINARY_HASH_MISMATCH',
  'INVALID_MODULE',
] as const;

export const executionFailureType = (outcome: TaskOutcome) => `SANDBOX_${outcome.toUpperCase()}`;

/** The run's budget from the bid's promised ETA, kept inside the configured bounds. */
export function executionTimeoutMs(etaSeconds: number, bounds: { minSeconds: number; maxSeconds: number }): number {
  const seconds = Math.min(bounds.maxSeconds, Math.max(bounds.minSeconds, Math.ceil(etaSeconds)));
  return seconds * 1000;
}

/** Slack on top of the run's own deadline for fetching, compiling and recording. */
export const EXECUTION_OVERHEAD_MS = 30_000;

/**
 * A delivery from stdout: JSON when the agent printed JSON that can be stored, else the text
 * itself. (Printed JSON may escape what the text cannot hold, `"\u0000"`, or nest without end:
 * kept as the text it was, it cannot jam the delivery's write.)
 */
export function deliveryFromStdout(stdout: string): unknown {
  const text = stdout.trim();
  try {
    const parsed: unknown = JSON.parse(text);
    return isStorable(parsed) ? parsed : text;
  } catch {
    return text;
  }
}
