import { setTimeout as sleep } from 'node:timers/promises';

export interface EventuallyOptions {
  /** Give up after this long (ms); the last failure is what the test reports. */
  timeout?: number;
  /** Pause between attempts (ms). */
  interval?: number;
  /** Says what was awaited, prefixed to the last failure's message. */
  message?: string;
}

/**
 * The suite's one way to wait for something, modelled on sdk-typescript's `assertEventually`:
 * calls `check` until it passes — returns without throwing and not `false` — and returns what
 * it returned; after `timeout` it fails with the last error. `check` is an assertion
 * (`expect(...)` inside) or a condition (return a boolean or the awaited value).
 *
 * Chosen over vitest's `expect.poll` because callers need the value that satisfied the wait
 * (the contract body, the workflow state), a check may assert on several fields at once, and
 * the same helper serves socket events, database rows and workflow queries alike.
 */
export async function eventually<T>(check: () => T | Promise<T>, options: EventuallyOptions = {}): Promise<Exclude<T, false>> {
  const { timeout = 15_000, interval = 50, message } = options;
  const deadline = Date.now() + timeout;
  for (let attempt = 1; ; attempt++) {
    let failure: unknown;
    try {
      const value = await check();
      if (value !== false) return value as Exclude<T, false>;
      failure = new Error('the condition was false');
    } catch (err) {
      failure = err;
    }
    // Check the clock after the attempt, so a slow last attempt still counts.
    if (Date.now() >= deadline) throw timedOut(failure, attempt, timeout, message);
    await sleep(interval);
  }
}

function timedOut(failure: unknown, attempts: number, timeout: number, message: string | undefined): Error {
  const err = failure instanceof Error ? failure : new Error(String(failure));
  // Keep the original error (vitest shows an assertion's diff); only say that we waited.
  err.message = `${message ? `${message}: ` : ''}still failing after ${timeout} ms (${attempts} attempts): ${err.message}`;
  return err;
}
