import * as wf from '@temporalio/workflow';
import type { SandboxActivities } from '../activities/execute-agent';
import { DETERMINISTIC_EXECUTION_FAILURES, EXECUTION_OVERHEAD_MS, type ExecutionPlan } from '../domain/execution';

// executeAgent as a workflow sees it, on the plan's sandbox task queue: heartbeats, a
// start-to-close from the run's budget, and retries for infrastructure faults only — what
// the guest itself did would happen again.
/**
 * validateDelivery (acceptance checks) on the sandbox task queue. The verifier's own deadline
 * (VERIFIER_TIMEOUT_SECONDS, at most 120 s) bounds a run; infrastructure faults are retried a
 * few times, after which the workflow records the checks as `error`. Time waiting in the queue
 * counts too (schedule-to-close): with no sandbox worker to take them, the checks are an
 * `error` the user decides, not a contract held in DELIVERED for good.
 */
export function validationActivities(taskQueue: string) {
  return wf.proxyActivities<SandboxActivities>({
    taskQueue,
    startToCloseTimeout: '3 minutes',
    scheduleToCloseTimeout: '20 minutes',
    heartbeatTimeout: '20 seconds',
    retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 5 },
  });
}

export function sandboxActivities(plan: ExecutionPlan) {
  return wf.proxyActivities<SandboxActivities>({
    taskQueue: plan.taskQueue,
    startToCloseTimeout: plan.timeoutMs + EXECUTION_OVERHEAD_MS,
    heartbeatTimeout: '20 seconds',
    retry: {
      initialInterval: '1 second',
      backoffCoefficient: 2,
      maximumInterval: '30 seconds',
      maximumAttempts: 5,
      nonRetryableErrorTypes: [...DETERMINISTIC_EXECUTION_FAILURES],
    },
  });
}
