import type { PaymentSignal } from '../../../domain/contract-types';
import type { ContractRun, TimeTarget } from './contract-run';
import { Step, type Cmd, type Model } from './model';
import type { Request } from './requests';

// The moves that are not one client request: retries, outages and restarts, lagging calls and
// the races they open, the sandbox finishing, Stripe's webhooks, time passing.

/** The client sends an earlier request again, with its update id. */
export class Retry extends Step {
  constructor(readonly back: number) {
    super();
  }
  // Also after the contract closed: a late retry still gets the first answer.
  override check(m: Readonly<Model>): boolean {
    return m.requests > 0;
  }
  protected act(run: ContractRun): Promise<void> {
    const req = run.requests[Math.max(0, run.requests.length - 1 - this.back)]!;
    return run.send(req, 'retry');
  }
  toString() {
    return this.back === 0 ? 'retry(the last request)' : `retry(the request ${this.back} before the last)`;
  }
}

/** The worker dies with the request in flight; the client retries it with the same update id. */
export class Outage extends Step {
  constructor(readonly inner: Request) {
    super();
  }
  override check(m: Readonly<Model>): boolean {
    return m.config.restartable && this.inner.check(m);
  }
  protected act(run: ContractRun): Promise<void> {
    return run.sendThroughOutage(this.inner.build(run));
  }
  toString() {
    return `outage(${this.inner})`;
  }
}

export class Restart extends Step {
  override check(m: Readonly<Model>): boolean {
    return m.config.restartable && !m.closed;
  }
  protected act(run: ContractRun): Promise<void> {
    return run.restartWorker();
  }
  toString() {
    return 'restart(worker)';
  }
}

/** The next call of this activity commits, then answers only after the next request. */
export class Lag extends Step {
  constructor(readonly activity: string) {
    super();
  }
  protected async act(run: ContractRun): Promise<void> {
    run.outside.arm(this.activity);
  }
  toString() {
    return `lag(${this.activity})`;
  }
}

/**
 * A move whose consequence lags — one of the workflow's own calls commits but answers late
 * (see Lag) — and the request that arrives meanwhile: a review while the delivery's write is
 * out, a delivery by hand while the sandbox plan is being made.
 */
export class Race implements Cmd {
  constructor(
    readonly move: Cmd,
    readonly activity: string,
    readonly next: Cmd,
  ) {}
  check(m: Readonly<Model>): boolean {
    return this.move.check(m);
  }
  async run(m: Model, run: ContractRun): Promise<void> {
    run.outside.arm(this.activity);
    await this.move.run(m, run);
    if (this.next.check(m)) await this.next.run(m, run);
  }
  toString() {
    return `race(${this.move} with ${this.activity} lagging, ${this.next})`;
  }
}

/** Two moves in a row, for a pair that matters only together (a chargeback after the early capture). */
export class Then implements Cmd {
  constructor(
    readonly first: Cmd,
    readonly second: Cmd,
  ) {}
  check(m: Readonly<Model>): boolean {
    return this.first.check(m);
  }
  async run(m: Model, run: ContractRun): Promise<void> {
    await this.first.run(m, run);
    if (this.second.check(m)) await this.second.run(m, run);
  }
  toString() {
    return `${this.first} then ${this.second}`;
  }
}

export class SandboxEnds extends Step {
  constructor(readonly outcome: 'ok' | 'fail') {
    super();
  }
  override check(m: Readonly<Model>): boolean {
    return m.sandboxRunning;
  }
  protected async act(run: ContractRun): Promise<void> {
    run.outside.finishSandbox(this.outcome);
    run.note(`-- the sandbox run ended ${this.outcome}`);
    await run.settle();
  }
  toString() {
    return `sandbox(${this.outcome})`;
  }
}

export class Webhook extends Step {
  constructor(readonly kind: PaymentSignal['kind']) {
    super();
  }
  override check(m: Readonly<Model>): boolean {
    if (m.closed) return false;
    if (this.kind === 'failed') return m.awaitingAction;
    if (this.kind === 'succeeded') return m.awaitingAction || m.captured;
    return m.captured; // refunds and disputes exist only for captured money
  }
  protected act(run: ContractRun): Promise<void> {
    return run.signal(this.kind);
  }
  toString() {
    return `webhook(${this.kind})`;
  }
}

export class PassTime extends Step {
  constructor(
    readonly target: TimeTarget,
    readonly anytime: boolean,
  ) {
    super();
  }
  // Time cannot pass over a sandbox run held by the test: the test server waits for it.
  override check(m: Readonly<Model>): boolean {
    return !m.closed && !m.sandboxRunning && (this.anytime || this.fits(m));
  }
  private fits(m: Readonly<Model>): boolean {
    switch (this.target) {
      case 'bidding':
        return m.status === 'BIDDING' && m.bids > 0;
      case 'award':
        return m.status === 'BIDDING' && m.bids > 0 && m.config.awardMode === 'manual';
      case 'delivery':
        return m.status === 'IN_PROGRESS';
      case 'review':
        return m.status === 'DELIVERED';
      case 'hours':
        return m.status === 'AWARDED' || m.status === 'IN_PROGRESS' || m.status === 'DELIVERED';
    }
  }
  protected act(run: ContractRun): Promise<void> {
    return run.passTime(this.target);
  }
  toString() {
    return this.target === 'hours' ? 'skip(3 hours)' : `skip(past the ${this.target} deadline)`;
  }
}

