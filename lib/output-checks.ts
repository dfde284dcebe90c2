import { Worker } from 'node:worker_threads';
import type { ValidationCheck } from '../domain/acceptance';
import { OUTPUT_CHECK_THREAD } from './acceptance';

// Output-schema checks off the event loop, with a deadline. A JSON Schema `pattern` is a regular
// expression a user wrote, run by V8's backtracking engine on an output an agent wrote: a
// pattern such as ^(a+)+$ on a long enough output never finishes, and would hold the sandbox
// worker's event loop (and its heartbeats) for good. So the check runs in a worker thread with
// a heap bound; past the deadline the thread is terminated (which stops V8 even inside a
// regular expression) and the check is an `error`, not the agent's fault. One check at a time;
// the thread and its compiled schemas live across checks.

export interface OutputChecks {
  check(schema: Record<string, unknown>, output: unknown): Promise<ValidationCheck>;
  close(): Promise<void>;
}

const errorCheck = (message: string): ValidationCheck => ({ name: 'output_schema', status: 'error', message: `${message}; this is not held against the agent` });

export function createOutputChecks({ timeoutMs, heapMb = 256 }: { timeoutMs: number; heapMb?: number }): OutputChecks {
  let thread: { worker: Worker; ready: Promise<boolean> } | null = null;
  let queue: Promise<unknown> = Promise.resolve();
  let seq = 0;

  const start = () => {
    const w = new Worker(new URL('./acceptance.ts', import.meta.url), {
      workerData: OUTPUT_CHECK_THREAD,
      // Node runs the file as it is (type stripping); nothing of the parent's loaders applies.
      execArgv: [],
      resourceLimits: { maxOldGenerationSizeMb: heapMb },
    });
    w.unref();
    // Starting a thread (Node, ajv) takes most of a second: the deadline counts from its ready.
    const ready = new Promise<boolean>((resolve) => {
      w.once('message', () => resolve(true));
      w.once('error', () => resolve(false));
      w.once('exit', () => resolve(false));
    });
    return { worker: w, ready };
  };

  async function once(schema: Record<string, unknown>, output: unknown): Promise<ValidationCheck> {
    const t = (thread ??= start());
    const w = t.worker;
    if (!(await t.ready)) {
      if (thread === t) thread = null;
      return errorCheck('the schema checker could not be started');
    }
    const id = ++seq;
    return new Promise((resolve) => {
      const done = (check: ValidationCheck, stop = false) => {
        clearTimeout(timer);
        w.off('message', onMessage).off('error', onError).off('exit', onExit);
        if (stop) {
          if (thread === t) thread = null;
          void w.terminate();
        }
        resolve(check);
      };
      const onMessage = (m: { id: number; check: ValidationCheck }) => m.id === id && done(m.check);
      const onError = (err: Error) => done(errorCheck(`the schema check failed: ${err.message}`), true);
      const onExit = (code: number) => done(errorCheck(`the schema check stopped (exit ${code})`), true);
      const timer = setTimeout(() => done(errorCheck(`the schema check did not finish within ${timeoutMs} ms (a pattern that backtracks without end?)`), true), timeoutMs);
      w.on('message', onMessage).on('error', onError).on('exit', onExit);
      w.postMessage({ id, schema, output });
    });
  }

  return {
    check(schema, output) {
      const result = queue.then(() => once(schema, output));
      queue = result;
      return result;
    },
    async close() {
      await thread?.worker.terminate();
      thread = null;
    },
  };
}
