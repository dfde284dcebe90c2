import type { BidRequest, BidView } from '../../../domain/contract-types';
import { accept, award, cancel, closeBidding, deliver, reject, submitBid } from '../../../workflows/contract-messages';
import { OWNER, STRANGER, type ContractRun, type Req } from './contract-run';
import { Step, type Model } from './model';

// The clients' requests as moves: bids, close, manual award, delivery, reviews, cancel. A
// request names its target the way a client would (the awarded agent, agent A's bid); the run
// resolves it against what the client could see, so a shrunk sequence still reads as a story.

// Most requests are sent when they can mean something (a review once there is a delivery);
// some are sent at any time, to be refused.
export abstract class Request extends Step {
  abstract readonly anytime: boolean;
  protected abstract fits(m: Readonly<Model>): boolean;
  override check(m: Readonly<Model>): boolean {
    return !m.closed && (this.anytime || this.fits(m));
  }
  abstract build(run: ContractRun): Req;
  protected act(run: ContractRun): Promise<void> {
    return run.send(this.build(run));
  }
}

const asDef = (d: unknown) => d as Req['def'];
const caller = (byOwner: boolean) => (byOwner ? OWNER : STRANGER);
const latestBid = (run: ContractRun, agentId: string): BidView | undefined => {
  for (const req of [...run.requests].reverse()) {
    const ok = req.kind === 'bid' && req.agentId === agentId && req.attempts.find((a) => a.answer?.ok);
    if (ok && ok.answer?.ok) return ok.answer.value as BidView;
  }
  return undefined;
};

export type Agent = 'A' | 'B' | 'S';
export type Flaw = 'none' | 'too-dear' | 'bad-confidence';

export class Bid extends Request {
  constructor(
    readonly agent: Agent,
    readonly price: number,
    readonly replace: boolean,
    readonly flaw: Flaw,
    readonly anytime: boolean,
  ) {
    super();
  }
  protected fits(m: Readonly<Model>) {
    return m.status === 'BIDDING';
  }
  build(run: ContractRun): Req {
    const token = run.token('bid');
    const req: BidRequest = {
      agentId: this.agent,
      priceCents: this.flaw === 'too-dear' ? run.input.rewardCents + 1 : this.price,
      etaSeconds: 600,
      confidence: this.flaw === 'bad-confidence' ? 1.5 : 0.8,
      message: token,
      ...(this.replace && { replace: true }),
    };
    return run.newRequest('bid', this.toString(), asDef(submitBid), [req], token, { agentId: this.agent, wellFormed: this.flaw === 'none' });
  }
  toString() {
    return `bid(${this.agent} ${this.price}${this.replace ? ' replace' : ''}${this.flaw === 'none' ? '' : ` ${this.flaw}`})`;
  }
}

export class Close extends Request {
  constructor(
    readonly byOwner: boolean,
    readonly anytime: boolean,
  ) {
    super();
  }
  protected fits(m: Readonly<Model>) {
    return m.status === 'BIDDING' && m.bids > 0;
  }
  build(run: ContractRun): Req {
    return run.newRequest('close', this.toString(), asDef(closeBidding), [{ userId: caller(this.byOwner) }], run.token('close'), { userId: caller(this.byOwner) });
  }
  toString() {
    return `close(${caller(this.byOwner)})`;
  }
}

export class Award extends Request {
  constructor(
    readonly agent: Agent | 'unknown',
    readonly anytime: boolean,
  ) {
    super();
  }
  protected fits(m: Readonly<Model>) {
    return m.status === 'BIDDING' && m.config.awardMode === 'manual' && m.bidders.includes(this.agent);
  }
  build(run: ContractRun): Req {
    const bidId = (this.agent !== 'unknown' && latestBid(run, this.agent)?.bidId) || `no-such-bid-${run.index}`;
    return run.newRequest('award', this.toString(), asDef(award), [{ userId: OWNER, bidId }], run.token('award'), { userId: OWNER, bidId });
  }
  toString() {
    return `award(${this.agent === 'unknown' ? 'an unknown bid' : `${this.agent}'s bid`})`;
  }
}

export class Deliver extends Request {
  constructor(
    readonly who: Agent | 'awarded' | 'X',
    readonly anytime: boolean,
  ) {
    super();
  }
  protected fits(m: Readonly<Model>) {
    return m.status === 'AWARDED' || m.status === 'IN_PROGRESS';
  }
  build(run: ContractRun): Req {
    const agentId = this.who === 'awarded' ? (run.row().awardedAgent ?? 'A') : this.who;
    const token = run.token('output');
    return run.newRequest('deliver', `deliver(${this.who === 'awarded' ? `awarded ${agentId}` : agentId})`, asDef(deliver), [{ agentId, output: token }], token, { agentId });
  }
  toString() {
    return `deliver(${this.who})`;
  }
}

const reviewable = (m: Readonly<Model>) => m.status === 'IN_PROGRESS' || m.status === 'DELIVERED';

export class Accept extends Request {
  constructor(
    readonly rating: number,
    readonly byOwner: boolean,
    readonly anytime: boolean,
  ) {
    super();
  }
  protected fits(m: Readonly<Model>) {
    return reviewable(m);
  }
  build(run: ContractRun): Req {
    const token = run.token('comment');
    const userId = caller(this.byOwner);
    return run.newRequest('accept', this.toString(), asDef(accept), [{ userId, rating: this.rating, comment: token }], token, {
      userId,
      wellFormed: this.rating >= 1 && this.rating <= 5,
    });
  }
  toString() {
    return `accept(${caller(this.byOwner)} ${this.rating}★)`;
  }
}

export class Reject extends Request {
  constructor(
    readonly byOwner: boolean,
    readonly anytime: boolean,
  ) {
    super();
  }
  protected fits(m: Readonly<Model>) {
    return reviewable(m);
  }
  build(run: ContractRun): Req {
    const token = run.token('reason');
    const userId = caller(this.byOwner);
    return run.newRequest('reject', this.toString(), asDef(reject), [{ userId, reason: token }], token, { userId });
  }
  toString() {
    return `reject(${caller(this.byOwner)})`;
  }
}

export class Cancel extends Request {
  constructor(
    readonly byOwner: boolean,
    readonly anytime: boolean,
  ) {
    super();
  }
  // Most cancels come once the work is under way, where they race deliveries and payments.
  protected fits(m: Readonly<Model>) {
    return m.status === 'AWARDED' || m.status === 'IN_PROGRESS' || m.status === 'DELIVERED';
  }
  build(run: ContractRun): Req {
    const token = run.token('cancel');
    const userId = caller(this.byOwner);
    return run.newRequest('cancel', this.toString(), asDef(cancel), [{ userId, reason: token }], token, { userId });
  }
  toString() {
    return `cancel(${caller(this.byOwner)})`;
  }
}

