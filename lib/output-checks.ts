import { Worker } from 'node:worker_threads';
import type { ValidationCheck } from '../domain/acceptance';
import { OUTPUT_CHECK_THREAD, type SchemaProblem } from './acceptance';

// Output-schema checks off the event loop, with a deadline. A JSON Schema `pattern` is a regular
// expression a user wrote, run by V8's backtracking engine on an output an agent wrote: a
// pattern such as ^(a+)+$ on a long enough output never finishes, and would hold the sandbox
// worker's event loop (and its heartbeats) for good. So the check runs in a worker thread with
// a heap bound; past the deadline the thread is terminated (which stops V8 even inside a
// regular expression) and the check is an `error`, not the agent's fault. One check at a time;
// the thread and its compiled schemas live across checks. The API uses the same thread to try a
// schema it is sent (`problems`): compiling one can take long too, and must not hold its loop.

export interface OutputChecks {
  check(schema: Record<string, unknown>, output: unknown): Promise<ValidationCheck>;
  /** Why a schema cannot be used (lib/acceptance.ts schemaProblems), or null; past the deadline, that it is too complex. */
  problems(schema: Record<string, unknown>): Promise<SchemaProblem[] | null>;
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

  type Answer = { check?: ValidationCheck; problems?: SchemaProblem[] | null };

  async function once<T>(message: Record<string, unknown>, read: (a: Answer) => T, failed: (why: string) => T): Promise<T> {
    const t = (thread ??= start());
    const w = t.worker;
    if (!(await t.ready)) {
      if (thread === t) thread = null;
      return failed('the schema checker could not be started');
    }
    const id = ++seq;
    return new Promise((resolve) => {
      const done = (answer: T, stop = false) => {
        clearTimeout(timer);
        w.off('message', onMessage).off('error', onError).off('exit', onExit);
        if (stop) {
          if (thread === t) thread = null;
          void w.terminate();
        }
        resolve(answer);
      };
      const onMessage = (m: Answer & { id: number }) => m.id === id && done(read(m));
      const onError = (err: Error) => done(failed(`the schema check failed: ${err.message}`), true);
      const onExit = (code: number) => done(failed(`the schema check stopped (exit ${code})`), true);
      const timer = setTimeout(() => done(failed(`did not finish within ${timeoutMs} ms`), true), timeoutMs);
      w.on('message', onMessage).on('error', onError).on('exit', onExit);
      w.postMessage({ id, ...message });
    });
  }

  const serially = <T>(run: () => Promise<T>): Promise<T> => {
    const result = queue.then(run);
    queue = result.catch(() => undefined);
    return result;
  };

  return {
    check(schema, output) {
      return serially(() =>
        once(
          { schema, output },
          (a) => a.check!,
          (why) => errorCheck(why.startsWith('did not finish') ? `the schema check ${why} (a pattern that backtracks without end?)` : why),
        ),
      );
    },
    problems(schema) {
      return serially(() =>
        once(
          { schema, problemsOnly: true },
          (a) => a.problems ?? null,
          (why) => [{ path: '', message: why.startsWith('did not finish') ? `the schema is too complex: compiling it ${why}` : why }],
        ),
      );
    },
    async close() {
      await thread?.worker.terminate();
      thread = null;
    },
  };
}
