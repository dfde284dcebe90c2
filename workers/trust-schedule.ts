import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import type { Config } from '../lib/config';
import { trustRecomputeWorkflow } from '../workflows/trust-recompute';

export const TRUST_SCHEDULE_ID = 'hermes-trust-nightly';

/**
 * Registers the nightly trust recompute, idempotently: every worker start calls this, the
 * first creates the Schedule, later ones update it to the current spec.
 */
export async function ensureTrustSchedule(
  client: Client,
  config: Pick<Config, 'TEMPORAL_TASK_QUEUE' | 'TRUST_RECOMPUTE_CRON'>,
): Promise<'created' | 'updated'> {
  const spec = { cronExpressions: [config.TRUST_RECOMPUTE_CRON] };
  const action = {
    type: 'startWorkflow' as const,
    workflowType: trustRecomputeWorkflow,
    workflowId: 'trust-recompute',
    taskQueue: config.TEMPORAL_TASK_QUEUE,
  };
  try {
    await client.schedule.create({
      scheduleId: TRUST_SCHEDULE_ID,
      spec,
      action,
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 hour' },
      state: { note: 'Recompute every agent trust score (set-based SQL)' },
    });
    return 'created';
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    await client.schedule.getHandle(TRUST_SCHEDULE_ID).update((prev) => ({ ...prev, spec, action }));
    return 'updated';
  }
}
