// Acceptance checks: what a contract declares its deliveries must pass, and what a delivery's
// validation records. Shared by the API, the contract workflow (deterministic, no I/O) and the
// sandbox activity that runs the checks.
//
// A validation is a document the API serves and events carry as it is, so it is snake_case
// from the start (like a delivery's output), in the workflow too.

import type { DeliveryEncoding } from './execution';

export const ON_PASS = ['review', 'settle'] as const;
export type OnPass = (typeof ON_PASS)[number];

export const VALIDATION_STATUSES = ['passed', 'failed', 'error'] as const;
export type ValidationStatus = (typeof VALIDATION_STATUSES)[number];
/** `pending` only in views: the delivery's checks are still running. */
export const CHECK_STATUSES = ['passed', 'failed', 'error', 'skipped'] as const;
export type CheckStatus = (typeof CHECK_STATUSES)[number];

/** A contract's acceptance checks as its workflow holds them (fixed at creation). */
export interface AcceptanceInput {
  outputSchema?: Record<string, unknown>;
  /** The verifier pinned at creation: a later upload or deletion changes nothing here. */
  verifier?: { id: string; name: string; sha256: string; url: string };
  onPass: OnPass;
  /** The sandbox task queue the checks run on (the API's configuration at creation). */
  taskQueue: string;
}

export interface SchemaError {
  instance_path: string;
  schema_path: string;
  keyword: string;
  message: string;
}

export interface ValidationCheck {
  name: 'output_schema' | 'verifier';
  status: CheckStatus;
  /** Why, in a sentence. */
  message: string;
  /** output_schema: the first errors ajv found (at most 20). */
  errors?: SchemaError[];
  /** verifier: which module ran and how it ended. */
  verifier_id?: string;
  verifier_sha256?: string;
  outcome?: string | null;
  exit_code?: number | null;
  /** null when the sandbox does not count fuel (SANDBOX_METERING=epoch). */
  fuel_consumed?: number | null;
  cpu_time_us?: number | null;
  duration_ms?: number | null;
  /** verifier: the start of what it wrote to stderr. */
  stderr?: string | null;
}

export interface Validation {
  status: ValidationStatus;
  checks: ValidationCheck[];
  /** The verifier's stdout (bounded), or null when no verifier ran. */
  report: string | null;
  validated_at: string;
}

/** A delivery whose checks are still running, as views show it. */
export interface PendingValidation {
  status: 'pending';
  checks: [];
  report: null;
  validated_at: null;
}
export const PENDING_VALIDATION: PendingValidation = { status: 'pending', checks: [], report: null, validated_at: null };
export type ValidationView = Validation | PendingValidation;

/** failed if any check failed; else error if any could not decide; else passed. */
export function validationStatus(checks: readonly ValidationCheck[]): ValidationStatus {
  if (checks.some((c) => c.status === 'failed')) return 'failed';
  if (checks.some((c) => c.status === 'error')) return 'error';
  return 'passed';
}

/** What the verifier reads on stdin: the contract's terms and the delivery, as the API shows them. */
export interface VerifierInput {
  contract: { id: string; intent: string; context: Record<string, unknown>; reward_cents: number; currency: string };
  delivery: { id: string; agent_id: string; attempt: number; source: 'agent' | 'sandbox'; output: unknown; output_encoding: DeliveryEncoding; delivered_at: string };
}

export interface ValidateDeliveryRequest {
  contractId: string;
  attempt: number;
  outputSchema?: Record<string, unknown>;
  verifier?: { id: string; sha256: string; url: string };
  input: VerifierInput;
}

/** When the checks could not be run at all (the activity failed past its retries). */
export function unrunnableValidation(req: Pick<ValidateDeliveryRequest, 'outputSchema' | 'verifier'>, why: string, at: string): Validation {
  const checks: ValidationCheck[] = [];
  const message = `the check could not be run: ${why}`;
  if (req.outputSchema) checks.push({ name: 'output_schema', status: 'error', message });
  if (req.verifier) checks.push({ name: 'verifier', status: 'error', message, verifier_id: req.verifier.id, verifier_sha256: req.verifier.sha256 });
  return { status: 'error', checks, report: null, validated_at: at };
}

/** One line for a status detail or a rejection reason: the first failed check's message. */
export function validationSummary(v: Validation): string {
  const failed = v.checks.find((c) => c.status === v.status) ?? v.checks[0];
  return failed ? `${failed.name}: ${failed.message}` : v.status;
}

/** A contract's acceptance checks as contracts.acceptance stores them and the API shows them. */
export interface AcceptanceRow {
  output_schema: Record<string, unknown> | null;
  verifier: { id: string; name: string; sha256: string } | null;
  on_pass: OnPass;
}

export function acceptanceRow(a: AcceptanceInput): AcceptanceRow {
  return {
    output_schema: a.outputSchema ?? null,
    verifier: a.verifier ? { id: a.verifier.id, name: a.verifier.name, sha256: a.verifier.sha256 } : null,
    on_pass: a.onPass,
  };
}
