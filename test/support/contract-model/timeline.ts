import type { AgentMetricInput } from '../../../activities/metrics';
import type { Award, DeliveryView, PaymentSignal, Review } from '../../../domain/contract-types';
import type { ContractStatus } from '../../../domain/statuses';

// What happened outside the workflow during one model run, in order: every activity call as it
// committed (the recorded activities stand in for Postgres and Stripe), every webhook sent and
// every sandbox run's end. The model's checks read the database and the money from here.
export type Entry =
  | { type: 'call'; name: string; args: unknown[]; result?: unknown }
  | { type: 'signal'; kind: PaymentSignal['kind'] }
  | { type: 'sandbox'; agentId: string; outcome: 'ok' | 'fail' };

export type Call = Extract<Entry, { type: 'call' }>;

export const callsOf = (timeline: readonly Entry[], name: string): Call[] =>
  timeline.filter((e): e is Call => e.type === 'call' && e.name === name);

/** The contract as GET /contracts/:id would show it: what the writes so far left in its row. */
export interface Row {
  status: ContractStatus | null;
  /** Award rounds recorded so far (1 after the first award). */
  round: number;
  awardedAgent: string | null;
  delivery: DeliveryView | null;
  /** A review is stored for the current delivery. */
  reviewed: boolean;
}

export function rowOf(timeline: readonly Entry[]): Row {
  const row: Row = { status: null, round: 0, awardedAgent: null, delivery: null, reviewed: false };
  for (const e of timeline) {
    if (e.type !== 'call') continue;
    if (e.name === 'persistContract') row.status = 'BIDDING';
    else if (e.name === 'setContractStatus') row.status = e.args[1] as ContractStatus;
    else if (e.name === 'settleContract') row.status = 'SETTLED';
    // A hold in place at once starts the work in its own transaction.
    else if (e.name === 'holdEscrow' && (e.args[0] as { startWork?: unknown }).startWork && (e.result as { status?: string } | undefined)?.status === 'authorized') row.status = 'IN_PROGRESS';
    else if (e.name === 'recordAward') {
      row.status = 'AWARDED';
      row.round++;
      row.awardedAgent = (e.args[1] as Award).agentId;
      row.delivery = null;
      row.reviewed = false;
    } else if (e.name === 'recordDelivery') {
      row.status = 'DELIVERED';
      row.delivery = e.args[1] as DeliveryView;
      row.reviewed = false;
    } else if (e.name === 'recordReview') row.reviewed = true;
  }
  return row;
}

export const reviewOf = (call: Call) => call.args[2] as Review;
export const deliveryOf = (call: Call) => call.args[1] as DeliveryView;
export const awardOf = (call: Call) => call.args[1] as Award;


/**
 * Every agent metric row written, in order: by recordAgentMetric (before a re-award), or in the
 * transaction that ends the contract (setContractStatus's metric, settleContract's).
 */
export function metricsOf(timeline: readonly Entry[]): AgentMetricInput[] {
  const out: AgentMetricInput[] = [];
  for (const e of timeline) {
    if (e.type !== 'call') continue;
    if (e.name === 'recordAgentMetric') out.push(e.args[0] as AgentMetricInput);
    else if (e.name === 'setContractStatus' && (e.args[3] as { metric?: AgentMetricInput } | undefined)?.metric) out.push((e.args[3] as { metric: AgentMetricInput }).metric);
    else if (e.name === 'settleContract' && (e.args[0] as { metric?: AgentMetricInput }).metric) out.push((e.args[0] as { metric: AgentMetricInput }).metric);
  }
  return out;
}
