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
   * The guest's stdout exactly: its text when the bytes are UTF-8 text (`exactText`), else
   * the bytes in base64 (`stdoutEncoding`). The task_results row (`taskResultId`) holds the
   * same bytes.
   */
  stdout: string;
  stdoutEncoding: OutputEncoding;
  /** The same for stderr. */
  stderr: string;
  stderrEncoding: OutputEncoding;
  /** SHA-256 (hex) and length of the bytes the guest wrote. */
  stdoutSha256: string;
  stdoutBytes: number;
  stderrSha256: string;
  stderrBytes: number;
  durationMs: number;
  fuelConsumed: number;
  message: string | null;
}

export type OutputEncoding = 'utf8' | 'base64';

/** Output bytes exactly, as JSON can carry them: their text when they are text, else base64. */
export function exactOutput(bytes: Uint8Array): { text: string; encoding: OutputEncoding } {
  const text = exactText(bytes);
  return text === null ? { text: Buffer.from(bytes).toString('base64'), encoding: 'base64' } : { text, encoding: 'utf8' };
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
 * How a delivery's `output` is to be read: `json`, the JSON value the agent delivered or its
 * binary printed; `text`, the UTF-8 text the binary printed, exactly (it was not JSON);
 * `base64`, the bytes the binary printed, which are not UTF-8 text.
 */
export type DeliveryEncoding = 'json' | 'text' | 'base64';

/**
 * A sandbox delivery from the run's stdout, never altered: the JSON value when the output is
 * JSON that can be stored and read without loss, else the text as printed, else the bytes in
 * base64. (Printed JSON may escape what storage cannot hold, `"\u0000"`, nest without end, or
 * hold a number a double cannot: `1e400`, or an integer past 2^53 such as an id: as text.)
 */
export function deliveryFromStdout(stdout: string, encoding: OutputEncoding): { output: unknown; outputEncoding: DeliveryEncoding } {
  if (encoding === 'base64') return { output: stdout, outputEncoding: 'base64' };
  try {
    let exact = true;
    const parsed: unknown = JSON.parse(stdout, function (this: unknown, _key: string, value: unknown, context?: { source?: string }) {
      if (typeof value === 'number' && !numberIsExact(value, context?.source)) exact = false;
      return value;
    } as (key: string, value: unknown) => unknown);
    if (exact && isStorable(parsed)) return { output: parsed, outputEncoding: 'json' };
  } catch {
    // not JSON: the text itself
  }
  return { output: stdout, outputEncoding: 'text' };
}

// The number a JSON literal names, as a double: finite, and an integer literal exactly (a
// decimal fraction is read as the nearest double, as every JSON reader does).
function numberIsExact(value: number, source: string | undefined): boolean {
  if (!Number.isFinite(value)) return false;
  if (source === undefined || !/^-?\d+$/.test(source) || Number.isSafeInteger(value)) return true;
  return BigInt(source) === BigInt(value);
}
