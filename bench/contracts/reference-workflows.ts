import * as wf from '@temporalio/workflow';
import type * as activities from './reference-activities';

// The fixed reference `npm run bench:contracts` measures Hermes against: a bare workflow of the
// contract's shape on 2026-12-01 — 15 no-op activities, 4 updates and 3 timers (a condition with
// a deadline each), in the places Hermes had them. It stays as it is, so that Hermes doing less
// Temporal work per contract shows as a gain. No search attributes, no Postgres.

const { step } = wf.proxyActivities<typeof activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '5 seconds' },
});

export const bid = wf.defineUpdate<string, [string]>('bid');
export const closeBidding = wf.defineUpdate<string>('closeBidding');
export const deliver = wf.defineUpdate<string, [string]>('deliver');
export const accept = wf.defineUpdate<string, [number]>('accept');

const HOUR = 3_600_000;

export async function referenceContract(): Promise<string> {
  let open = true;
  let inProgress = false;
  let delivered = false;
  let reviewed = false;
  wf.setHandler(
    bid,
    async (agentId) => {
      await step('recordBid');
      return agentId;
    },
    { validator: (_agentId: string) => refuseUnless(open, 'bidding is closed') },
  );
  wf.setHandler(closeBidding, () => {
    open = false;
    return 'closed';
  });
  wf.setHandler(
    deliver,
    async (output) => {
      delivered = true;
      await step('recordDelivery');
      return output;
    },
    { validator: (_output: string) => refuseUnless(inProgress && !delivered, 'not in progress') },
  );
  wf.setHandler(
    accept,
    async () => {
      await step('recordReview');
      reviewed = true;
      return 'accepted';
    },
    { validator: (_rating: number) => refuseUnless(delivered && !reviewed, 'nothing to review') },
  );

  await step('persistContract');
  await wf.condition(() => !open, HOUR); // timer 1: the bidding deadline
  await step('loadReputations');
  await step('planExecution');
  await step('setStatusAwarded');
  await step('recordAward');
  await step('holdEscrow');
  await step('setStatusInProgress');
  inProgress = true;
  await wf.condition(() => delivered, HOUR); // timer 2: the delivery deadline
  await wf.condition(() => reviewed, HOUR); // timer 3: the review window
  await step('captureEscrow');
  await step('recordAgentMetric');
  await step('recomputeAgentTrust');
  await step('settleContract');
  await step('setStatusSettled');
  await wf.condition(wf.allHandlersFinished);
  return 'SETTLED';
}

// For the bid round trip: an Update that runs no activity, and one that runs one.
export const ping = wf.defineUpdate<number, [number]>('ping');
export const pingWithActivity = wf.defineUpdate<number, [number]>('pingWithActivity');
export const stop = wf.defineSignal('stop');

export async function bareUpdates(): Promise<void> {
  let stopped = false;
  wf.setHandler(ping, (n) => n);
  wf.setHandler(pingWithActivity, async (n) => {
    await step('recordBid');
    return n;
  });
  wf.setHandler(stop, () => {
    stopped = true;
  });
  await wf.condition(() => stopped);
  await wf.condition(wf.allHandlersFinished);
}

function refuseUnless(ok: boolean, message: string): void {
  if (!ok) throw new Error(message);
}
