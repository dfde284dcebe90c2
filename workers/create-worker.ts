import { NativeConnection, Worker } from '@temporalio/worker';
import { fileURLToPath } from 'node:url';
import type { Activities } from '../activities';
import type { SandboxActivities } from '../activities/execute-agent';
import type { Config } from '../lib/config';
import { heartbeatWhileRunning } from './heartbeats';

export const WORKFLOWS_PATH = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

// The main worker: contract workflows plus their ordinary activities. A prebuilt bundle
// (WORKFLOW_BUNDLE_PATH; tests build one once) skips the webpack step at start.
export async function createMainWorker(opts: {
  config: Pick<Config, 'TEMPORAL_ADDRESS' | 'TEMPORAL_NAMESPACE' | 'TEMPORAL_TASK_QUEUE' | 'WORKFLOW_BUNDLE_PATH' | 'WORKER_WORKFLOW_TASK_SLOTS'>;
  activities: Activities;
  connection?: NativeConnection;
}): Promise<Worker> {
  const { config } = opts;
  const connection = opts.connection ?? (await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS }));
  return Worker.create({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    ...(config.WORKFLOW_BUNDLE_PATH ? { workflowBundle: { codePath: config.WORKFLOW_BUNDLE_PATH } } : { workflowsPath: WORKFLOWS_PATH }),
    activities: opts.activities,
    interceptors: { activity: [heartbeatWhileRunning] },
    maxConcurrentWorkflowTaskExecutions: config.WORKER_WORKFLOW_TASK_SLOTS,
    // A killed worker's cached workflows move to another worker after this, not the default 10 s.
    stickyQueueScheduleToStartTimeout: '3 seconds',
  });
}

// The sandbox worker: only executeAgent, on its own task queue, so WASM runs scale and fail
// apart from the contract workflows. Concurrency is capped: each run is a CPU-bound thread.
export async function createSandboxWorker(opts: {
  config: Pick<Config, 'TEMPORAL_ADDRESS' | 'TEMPORAL_NAMESPACE' | 'SANDBOX_TASK_QUEUE' | 'SANDBOX_CONCURRENCY'>;
  activities: SandboxActivities;
  connection?: NativeConnection;
}): Promise<Worker> {
  const connection = opts.connection ?? (await NativeConnection.connect({ address: opts.config.TEMPORAL_ADDRESS }));
  return Worker.create({
    connection,
    namespace: opts.config.TEMPORAL_NAMESPACE,
    taskQueue: opts.config.SANDBOX_TASK_QUEUE,
    activities: opts.activities,
    maxConcurrentActivityTaskExecutions: opts.config.SANDBOX_CONCURRENCY,
    // Heartbeats carry cancellation back to a run: send them every couple of seconds rather
    // than the default 80% of the heartbeat timeout, so a cancelled contract stops its guest fast.
    maxHeartbeatThrottleInterval: '2 seconds',
    defaultHeartbeatThrottleInterval: '2 seconds',
  });
}
