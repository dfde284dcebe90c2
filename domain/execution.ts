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
  /** Written to the guest's stdin as JSON. */
  input: unknown;
}

export interface ExecutionReport {
  taskResultId: string;
  attempt: number;
  outcome: TaskOutcome;
  exitCode: number | null;
  stdout: string;
  stderr: string;
  durationMs: number;
  fuelConsumed: number;
  message: string | null;
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
