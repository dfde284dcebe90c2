import * as wf from '@temporalio/workflow';
import type { Activities } from '../activities';

// Recomputes every agent's trust score (uptime decays even for agents with no new outcomes).
// Started nightly by the `hermes-trust-nightly` Schedule (workers/trust-schedule.ts).
const db = wf.proxyActivities<Activities>({
  startToCloseTimeout: '15 minutes',
  retry: { initialInterval: '10 seconds', backoffCoefficient: 2, maximumInterval: '5 minutes', maximumAttempts: 10 },
});

export async function trustRecomputeWorkflow(): Promise<{ agents: number }> {
  return { agents: await db.recomputeAllTrust() };
}
