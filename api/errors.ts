import { isGrpcServiceError, ServiceError, WorkflowNotFoundError, WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { Context, Next } from 'koa';
import { z } from 'zod';
import { ERROR_STATUS, isErrorCode, type ErrorCode } from '../domain/errors';
import type { Logger } from '../lib/logger';

export interface ErrorDetail {
  field?: string;
  message?: string;
}

// An error meant for the client: its code and message are shown as they are.
export class HttpError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: ErrorDetail[],
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
  get status(): number {
    return ERROR_STATUS[this.code];
  }
}

export const notFound = (what: string) => new HttpError('NOT_FOUND', `${what} not found`);

function fromZod(err: z.ZodError): HttpError {
  const details = err.issues.flatMap((i): ErrorDetail[] =>
    i.code === 'unrecognized_keys'
      ? i.keys.map((k) => ({ field: [...i.path, k].join('.'), message: 'unknown field' }))
      : [{ field: i.path.join('.') || undefined, message: i.message }],
  );
  const first = details[0];
  return new HttpError('VALIDATION_ERROR', first?.field ? `${first.field}: ${first.message}` : 'invalid request', details);
}

/** Seconds a client is asked to wait before retrying a 503. */
export const RETRY_AFTER_SECONDS = 2;

/** 503 UNAVAILABLE with Retry-After: nothing is wrong with the request; send it again. */
export const unavailable = (message: string) =>
  new HttpError('UNAVAILABLE', message, undefined, { 'Retry-After': String(RETRY_AFTER_SECONDS) });

// gRPC status codes (fixed by the gRPC spec) that say Temporal could not answer now, not that
// the request was wrong: down or unreachable, out of time, overloaded.
const GRPC_DEADLINE_EXCEEDED = 4;
const GRPC_RESOURCE_EXHAUSTED = 8;
const GRPC_FAILED_PRECONDITION = 9;
const GRPC_UNAVAILABLE = 14;
const TRANSIENT_GRPC = new Set([GRPC_DEADLINE_EXCEEDED, GRPC_RESOURCE_EXHAUSTED, GRPC_UNAVAILABLE]);

function isTransientTemporalError(err: unknown): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    // The update was not answered in time; it may have been delivered and may still run.
    if (e instanceof WorkflowUpdateRPCTimeoutOrCancelledError) return true;
    if (isGrpcServiceError(e)) {
      if (TRANSIENT_GRPC.has(e.code)) return true;
      // The workflow's task keeps failing (a bug or a worker fault): updates wait for a fix.
      // Update-with-Start says so in the message and leaves details generic.
      return e.code === GRPC_FAILED_PRECONDITION && /workflow task in failed state/i.test(`${e.details} ${e.message}`);
    }
    // The SDK wraps what is not a gRPC status (a connection that failed or was closed) this way.
    if (e instanceof ServiceError && !isGrpcServiceError(e.cause)) return true;
  }
  return false;
}

// Workflow update validators reject with ApplicationFailures typed from domain/errors.
function fromTemporal(err: unknown): HttpError | null {
  if (err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure && isErrorCode(err.cause.type)) {
    const details = (err.cause.details ?? []) as ErrorDetail[];
    if (err.cause.type === 'UNAVAILABLE') return unavailable(`${err.cause.message}; retry with the same Idempotency-Key`);
    return new HttpError(err.cause.type, err.cause.message, details.length ? details : undefined);
  }
  if (isTransientTemporalError(err)) {
    return unavailable(
      'the contract service did not answer in time; the request may still take effect, so retry it with the same Idempotency-Key (or the same request) to get its answer',
    );
  }
  if (err instanceof WorkflowNotFoundError) {
    // The contract row exists (routes check first), so its workflow has finished.
    return new HttpError('CONTRACT_CLOSED', 'this contract is closed');
  }
  return null;
}

// Postgres unreachable or restarting: connection errors, SQLSTATE classes 08 (connection
// exception) and 57P0x (shutting down, starting up), too many connections, or no pooled
// connection in time. Nothing was written, so the client may simply retry.
const DB_GONE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', '57P01', '57P02', '57P03', '53300']);
function isDatabaseUnavailable(err: unknown): boolean {
  const e = err as { code?: unknown; name?: unknown; message?: unknown; nativeError?: unknown } | null;
  if (!e || typeof e !== 'object') return false;
  if (e.nativeError && isDatabaseUnavailable(e.nativeError)) return true;
  const code = typeof e.code === 'string' ? e.code : '';
  if (DB_GONE_CODES.has(code) || code.startsWith('08')) return true;
  return e.name === 'KnexTimeoutError' || (typeof e.message === 'string' && /Connection terminated|Client has encountered a connection error/.test(e.message));
}

function toHttpError(err: unknown): HttpError | null {
  if (err instanceof HttpError) return err;
  if (err instanceof z.ZodError) return fromZod(err);
  const temporal = fromTemporal(err);
  if (temporal) return temporal;
  if (isDatabaseUnavailable(err)) return unavailable('the database is unavailable for a moment; retry the request');
  const status = (err as { status?: number }).status;
  if (status === 413) return new HttpError('PAYLOAD_TOO_LARGE', 'request body is too large');
  if (status === 415) return new HttpError('UNSUPPORTED_MEDIA_TYPE', 'request body must be JSON (application/json)');
  // The JSON parser refuses __proto__ keys (prototype pollution); say so, not "invalid JSON".
  if (status === 400 && /forbidden prototype property/.test((err as Error).message)) {
    return new HttpError('VALIDATION_ERROR', 'body: JSON object keys named __proto__ are not accepted', [{ field: 'body', message: 'a __proto__ key' }]);
  }
  if (status === 400) return new HttpError('VALIDATION_ERROR', 'request body must be valid JSON', [{ field: 'body' }]);
  return null;
}

/** The status errorMiddleware answers `err` with (500 for anything it does not know). */
export function statusOf(err: unknown): number {
  return toHttpError(err)?.status ?? 500;
}

export function errorMiddleware(log: Logger) {
  return async (ctx: Context, next: Next) => {
    try {
      await next();
      // The router answers these with a bare status (and Allow); give them the envelope.
      if (ctx.body === undefined) {
        if (ctx.status === 404) throw new HttpError('NOT_FOUND', `no route for ${ctx.method} ${ctx.path}`);
        if (ctx.status === 405 || ctx.status === 501) {
          throw new HttpError('METHOD_NOT_ALLOWED', `${ctx.method} is not allowed on ${ctx.path}; see the Allow header`);
        }
      }
    } catch (err) {
      const known = toHttpError(err);
      if (known) {
        ctx.status = known.status;
        ctx.set(known.headers);
        // Every 503 says when to come back, whoever raised it.
        if (known.status === 503 && !ctx.response.get('Retry-After')) ctx.set('Retry-After', String(RETRY_AFTER_SECONDS));
        ctx.body = { error: { code: known.code, message: known.message, ...(known.details && { details: known.details }) } };
        return;
      }
      // Anything else is ours: log it, never show it.
      log.error({ err, method: ctx.method, path: ctx.path, requestId: ctx.state.requestId }, 'unhandled error');
      ctx.status = 500;
      ctx.body = { error: { code: 'INTERNAL', message: 'internal error', request_id: ctx.state.requestId } };
    }
  };
}
