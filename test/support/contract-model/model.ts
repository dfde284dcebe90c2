import type fc from 'fast-check';
import type { ContractStatus } from '../../../domain/statuses';
import type { ContractRun } from './contract-run';
import type { RunConfig } from './run-config';

/** What the generator knows between steps, to keep only moves that can mean something. */
export interface Model {
  config: RunConfig;
  requests: number;
  closed: boolean;
  /** The row's status: where the contract is, as a client sees it. */
  status: ContractStatus;
  bids: number;
  /** Agents with a bid standing. */
  bidders: string[];
  /** A capture stands: Stripe could now refund it or see it disputed. */
  captured: boolean;
  /** The hold waits for the customer (requires_action): Stripe's succeeded/failed may come. */
  awaitingAction: boolean;
  sandboxRunning: boolean;
}

export const initialModel = (config: RunConfig): Model => ({ config, requests: 0, closed: false, status: 'BIDDING', bids: 0, bidders: [], captured: false, awaitingAction: false, sandboxRunning: false });

export function observe(run: ContractRun): Omit<Model, 'config'> {
  const t = run.timeline;
  const lastIndex = (p: (e: (typeof t)[number]) => boolean) => {
    for (let i = t.length - 1; i >= 0; i--) if (p(t[i]!)) return i;
    return -1;
  };
  const call = (name: string) => (e: (typeof t)[number]) => e.type === 'call' && e.name === name;
  const hold = lastIndex(call('holdEscrow'));
  // A capture: early (captureEscrow), or settlement's own (settleContract with the hold to capture).
  const capture = lastIndex((e) => call('captureEscrow')(e) || (call('settleContract')(e) && e.type === 'call' && !!(e.args[0] as { capture?: unknown }).capture));
  const since = (i: number) => t.slice(i + 1);
  return {
    requests: run.requests.length,
    closed: run.closed,
    status: run.row().status ?? 'BIDDING',
    bids: run.requests.filter((r) => r.kind === 'bid' && r.attempts.some((a) => a.answer?.ok)).length,
    bidders: [...new Set(run.requests.filter((r) => r.kind === 'bid' && r.attempts.some((a) => a.answer?.ok)).map((r) => r.agentId!))],
    captured: capture > hold && !since(capture).some((e) => call('refundEscrow')(e) || (e.type === 'signal' && (e.kind === 'refunded' || e.kind === 'disputed'))),
    awaitingAction: run.config.payment === 'requires_action' && hold >= 0 && !since(hold).some((e) => ['confirmEscrow', 'failEscrow', 'voidEscrow'].some((n) => call(n)(e))),
    sandboxRunning: run.outside.sandboxRunning,
  };
}

export type Cmd = fc.AsyncCommand<Model, ContractRun>;

/** A move; after it the model is what the run observed. */
export abstract class Step implements Cmd {
  check(m: Readonly<Model>): boolean {
    return !m.closed;
  }
  protected abstract act(run: ContractRun): Promise<void>;
  async run(m: Model, run: ContractRun): Promise<void> {
    await this.act(run);
    Object.assign(m, observe(run));
  }
  abstract toString(): string;
}

