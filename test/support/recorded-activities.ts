import { ApplicationFailure } from '@temporalio/activity';
import type { Activities } from '../../activities';
import type { PaymentView } from '../../domain/contract-types';
import type { ExecutionPlan } from '../../domain/execution';
import type { AgentMetricInput } from '../../activities/metrics';
import { metricsOf } from './contract-model/timeline';

// Activity stand-ins for workflow tests: they record what the workflow asked for so a test
// can assert on it. The real activities run against Postgres and stripe-mock in
// test/integration.
export interface Recorder {
  calls: { name: keyof Activities; args: unknown[] }[];
  declineEscrow: boolean;
  /** What holdEscrow answers: 'requires_action' makes the workflow wait for the webhook. */
  holdStatus: 'authorized' | 'requires_action';
  captureBy: string | null;
  actionDeadline: string | null;
  heldCents: number;
  /** Trust scores loadReputations answers; 0.5 for anyone else. */
  reputations: Record<string, number>;
  /** The execution plan recordAward answers: null means the awarded agent has no binary. */
  executionPlan: ExecutionPlan | null;
  /**
   * Makes a call fail: 'data' as Postgres refusing the data (non-retryable DATA_REJECTED),
   * 'fault' as an outage that outlasts every retry.
   */
  failWith: (name: keyof Activities, args: unknown[]) => 'data' | 'fault' | null;
  /**
   * Holds a call's answer back until the promise settles: the call is recorded (its write
   * "committed") but the workflow has not heard yet.
   */
  gates: Partial<Record<keyof Activities, Promise<void>>>;
}

export function recordedActivities(): { activities: Activities; recorder: Recorder } {
  const recorder: Recorder = {
    calls: [],
    declineEscrow: false,
    holdStatus: 'authorized',
    captureBy: null,
    actionDeadline: null,
    heldCents: 0,
    reputations: {},
    executionPlan: null,
    failWith: () => null,
    gates: {},
  };
  const record = (name: keyof Activities, args: unknown[]) => recorder.calls.push({ name, args });
  const payment = (status: PaymentView['status'], amountCents: number): PaymentView => ({
    paymentIntentId: 'pi_recorded',
    amountCents,
    status,
    captureBy: recorder.captureBy,
  });
  const activities: Activities = {
    async persistContract(...args) { record('persistContract', args); },
    async recordAward(...args) { record('recordAward', args); return recorder.executionPlan; },
    async setContractStatus(...args) { record('setContractStatus', args); },
    async recordDelivery(...args) { record('recordDelivery', args); },
    async recordReview(...args) { record('recordReview', args); },
    async recordValidation(...args) { record('recordValidation', args); },
    async recordAgentMetric(...args) { record('recordAgentMetric', args); },
    async holdEscrow(...args) {
      record('holdEscrow', args);
      if (recorder.declineEscrow) throw ApplicationFailure.nonRetryable('Your card was declined.', 'PAYMENT_DECLINED');
      recorder.heldCents = args[0].amountCents;
      return { ...payment(recorder.holdStatus, args[0].amountCents), captureBy: recorder.captureBy, actionDeadline: recorder.actionDeadline };
    },
    async captureEscrow(...args) { record('captureEscrow', args); return payment('captured', args[0].amountCents); },
    async voidEscrow(...args) { record('voidEscrow', args); return payment('voided', 0); },
    async confirmEscrow(...args) { record('confirmEscrow', args); return payment('authorized', recorder.heldCents); },
    async failEscrow(...args) { record('failEscrow', args); return payment('failed', recorder.heldCents); },
    async refundEscrow(...args) { record('refundEscrow', args); return payment('refunded', recorder.heldCents); },
    async settleContract(...args) {
      record('settleContract', args);
      return args[0].capture ? payment('captured', args[0].capture.amountCents) : null;
    },
    async applyPaymentReversal(...args) { record('applyPaymentReversal', args); return 'applied' as const; },
    async payoutWithdrawal(...args) { record('payoutWithdrawal', args); return 'paid' as const; },
    async recomputeAllTrust(...args) { record('recomputeAllTrust', args); return 0; },
    async loadReputations(...args) {
      record('loadReputations', args);
      return Object.fromEntries(args[0].map((id) => [id, recorder.reputations[id] ?? 0.5]));
    },
    async markTaskRunning(...args) { record('markTaskRunning', args); },
    async finishTask(...args) { record('finishTask', args); },
  };
  const failing = Object.fromEntries(
    Object.entries(activities).map(([name, fn]) => [
      name,
      async (...args: unknown[]) => {
        const failure = recorder.failWith(name as keyof Activities, args);
        if (failure === 'data') throw ApplicationFailure.nonRetryable('invalid byte sequence for encoding "UTF8": 0x00', 'DATA_REJECTED');
        if (failure === 'fault') throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
        const result = await (fn as (...a: unknown[]) => Promise<unknown>)(...args);
        await recorder.gates[name as keyof Activities];
        return result;
      },
    ]),
  ) as Activities;
  return { activities: failing, recorder };
}

/** The agent metric rows a contract's workflow wrote, in order, whichever activity wrote them. */
export function metricsWritten(recorder: Recorder, contractId: string): AgentMetricInput[] {
  return metricsOf(recorder.calls.map((c) => ({ type: 'call' as const, name: c.name, args: c.args }))).filter((m) => m.contractId === contractId);
}
