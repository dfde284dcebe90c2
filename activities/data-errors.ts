import { ApplicationFailure } from '@temporalio/activity';

// Postgres errors that a retry cannot fix, by SQLSTATE class: 22 data exception (NUL in
// text, invalid encoding, value out of range), 23 integrity constraint violation, 54 program
// limit exceeded (too deep, too complex). They become non-retryable DATA_REJECTED failures,
// which the workflows turn into a refusal of the request that carried the data.
const DATA_ERROR_CLASSES = new Set(['22', '23', '54']);

export const DATA_REJECTED = 'DATA_REJECTED';

function sqlState(err: unknown): string | undefined {
  // objection wraps the driver's error; knex passes pg's through with its `code`.
  const e = err as { code?: unknown; nativeError?: { code?: unknown } } | null;
  const code = e?.nativeError?.code ?? e?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

export function asDataFailure(err: unknown): unknown {
  const state = sqlState(err);
  if (!state || !DATA_ERROR_CLASSES.has(state.slice(0, 2))) return err;
  return ApplicationFailure.create({ type: DATA_REJECTED, message: `Postgres refused the data (SQLSTATE ${state}): ${(err as Error).message}`, nonRetryable: true });
}

/** The same activities, with data errors made non-retryable. */
export function rejectingBadData<T extends Record<string, unknown>>(activities: T): T {
  const wrapped: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(activities)) {
    wrapped[name] =
      typeof fn === 'function'
        ? async (...args: unknown[]) => {
            try {
              return await fn(...args);
            } catch (err) {
              throw asDataFailure(err);
            }
          }
        : fn;
  }
  return wrapped as T;
}
