// Preloaded into the run's main worker (`node --import tsx --import <this> workers/main.ts`):
// Worker.create gets the bundle scripts/chaos.sh built instead of webpacking the workflow code
// at every start. Restarts then take seconds, not the ~30 s webpack takes on a busy 2-core
// machine, so a SIGKILL every few seconds tests recovery rather than bundling time.
// Plain JavaScript: the SDK's workflow threads inherit the preloads, and tsx is not theirs.
import { isMainThread } from 'node:worker_threads';

const codePath = process.env.CHAOS_WORKFLOW_BUNDLE;
if (isMainThread && codePath) {
  const { Worker } = await import('@temporalio/worker');
  const create = Worker.create.bind(Worker);
  Worker.create = (options) => {
    const { workflowsPath: _bundled, ...rest } = options;
    return create({ ...rest, workflowBundle: { codePath } });
  };
}
