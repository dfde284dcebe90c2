import * as wf from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { ExecutionPlan, ExecutionReport } from '../domain/execution';
import { DB_WRITE } from './activity-options';
import { sandboxActivities } from './sandbox-activities';

// A direct task: run an agent's binary once on the owner's input, outside the market.
// Workflow id `task-<uuid>`; the results live in task_results.

export interface TaskInput {
  taskId: string;
  plan: ExecutionPlan;
  input: unknown;
}

export interface TaskOutcome {
  status: 'succeeded' | 'failed';
  report: ExecutionReport | null;
  failure: string | null;
}

const db = wf.proxyActivities<Activities>(DB_WRITE);

export async function taskWorkflow({ taskId, plan, input }: TaskInput): Promise<TaskOutcome> {
  const sandbox = sandboxActivities(plan);
  await db.markTaskRunning(taskId);
  try {
    const report = await sandbox.executeAgent({ ...plan, taskId, input });
    await db.finishTask(taskId, 'succeeded');
    return { status: 'succeeded', report, failure: null };
  } catch (err) {
    const cause = err instanceof wf.ActivityFailure && err.cause ? err.cause : err;
    const report = cause instanceof wf.ApplicationFailure ? ((cause.details?.[0] as ExecutionReport) ?? null) : null;
    await db.finishTask(taskId, 'failed');
    return { status: 'failed', report, failure: cause instanceof Error ? cause.message : String(cause) };
  }
}
