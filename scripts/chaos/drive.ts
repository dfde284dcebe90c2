import { randomUUID } from 'node:crypto';
import type { Agent, Cast, Owner } from './actors';
import type { Answer, Credentials, Http } from './http';
import { is2xx } from './journal';
import { sleep, type Random } from './random';
import { settings } from './settings';
import { paymentIntentOf, sendStripeEvent, type SentEvent, type StripeEventType } from './stripe-events';

export const TERMINAL = ['SETTLED', 'EXPIRED', 'CANCELLED', 'FAILED'];

export interface RunContext {
  http: Http;
  rnd: Random;
  cast: Cast;
}

/** Contracts the run was told exist (201), beyond the one a Drive created: a replayed create that made a second. */
export const extraContracts = new Set<string>();

// One contract's clients: its owner, the agents that bid, and Stripe. Each action goes through
// the retrying client, notes what the owner last saw, and may be sent a second time with the
// same key (a replay probe) or the same key with another body (a key-reuse probe).
export class Drive {
  id = '';
  view: any = null;
  readonly notes: string[] = [];
  readonly webhooks: SentEvent[] = [];
  /** Right after the 201: was the contract in a capable agent's GET /mesh/contracts (null: not checked)? */
  listedAfterCreate: { listed: boolean; listSize: number; at: number } | null = null;
  /** Unique text this contract's requests carry, so a stored row tells which request made it. */
  readonly tag = randomUUID().slice(0, 8);

  constructor(
    readonly ctx: RunContext,
    readonly scenario: string,
    readonly owner: Owner,
  ) {}

  private get ownerCreds(): Credentials {
    return { token: this.owner.token };
  }

  async create(fields: Record<string, unknown>, listingAgent?: Agent): Promise<boolean> {
    const body = { intent: `chaos ${this.scenario} ${this.tag}`, reward_cents: this.ctx.rnd.int(500, 20_000), ...fields };
    const res = await this.ctx.http.call('POST', '/contracts', { actor: this.owner.name, credentials: this.ownerCreds, body });
    if (res.status !== 201) {
      this.notes.push(`create answered ${res.status} ${res.body?.error?.code ?? ''}`);
      return false;
    }
    this.id = res.body.id;
    res.exchange.contractId = this.id;
    // A 201 means it exists: the owner subscribes, reads it, and a capable agent lists it, at once.
    await this.owner.ears.subscribe(this.id);
    await this.get();
    if (listingAgent) {
      const listing = await this.ctx.http.call('GET', '/mesh/contracts?limit=100', { actor: listingAgent.name, credentials: { apiKey: listingAgent.apiKey }, contractId: this.id });
      if (listing.status === 200) {
        const ids = (listing.body.data as { id: string }[]).map((c) => c.id);
        this.listedAfterCreate = { listed: ids.includes(this.id), listSize: ids.length, at: listing.exchange.attempts[0]!.sentAt };
      }
    }
    const replay = await this.probe(res, this.ownerCreds, '/contracts');
    if (replay && is2xx(replay.status) && replay.body?.id && replay.body.id !== this.id) extraContracts.add(replay.body.id);
    return true;
  }

  async get(): Promise<any> {
    const res = await this.ctx.http.call('GET', `/contracts/${this.id}`, { actor: this.owner.name, credentials: this.ownerCreds, contractId: this.id });
    if (res.status === 200) this.view = res.body;
    return res.status === 200 ? res.body : null;
  }

  /** Polls the owner's GET until `ready`; null when the contract ended otherwise or time ran out. */
  async waitFor(what: string, ready: (v: any) => boolean, timeoutMs = settings.stepTimeoutMs): Promise<any> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const v = await this.get();
      if (v && ready(v)) return v;
      if (v && TERMINAL.includes(v.status)) {
        this.notes.push(`ended ${v.status}${v.failure_reason ? `/${v.failure_reason}` : ''} while waiting for ${what}`);
        return null;
      }
      await sleep(800 + this.ctx.rnd.int(0, 600));
    }
    this.notes.push(`gave up waiting for ${what} after ${timeoutMs / 1000} s (last seen ${this.view?.status ?? 'nothing'})`);
    return null;
  }

  waitTerminal(): Promise<any> {
    return this.waitFor('the end', (v) => TERMINAL.includes(v.status), settings.settleTimeoutMs);
  }

  agentById(id: string | undefined): Agent | undefined {
    return this.ctx.cast.all.find((a) => a.id === id);
  }

  private async act(actor: string, credentials: Credentials, path: string, body: unknown): Promise<Answer> {
    const res = await this.ctx.http.call('POST', path, { actor, credentials, body, contractId: this.id, sawStatus: this.view?.status });
    await this.probe(res, credentials, path);
    return res;
  }

  /** After a 2xx, sometimes: the same request again with the same key; it must get the same answer. */
  private async probe(res: Answer, credentials: Credentials, path: string): Promise<Answer | null> {
    if (!is2xx(res.status) || !this.ctx.rnd.chance(settings.replayProbability)) return null;
    const x = res.exchange;
    return this.ctx.http.call('POST', path, { actor: x.actor, credentials, body: x.body, contractId: this.id, key: x.key, probeOf: x.seq });
  }

  async bid(agent: Agent, priceCents: number, opts: { replace?: boolean } = {}): Promise<Answer> {
    const body = {
      contract_id: this.id,
      price_cents: priceCents,
      eta_seconds: this.ctx.rnd.int(30, 900),
      confidence: this.ctx.rnd.int(50, 99) / 100,
      message: `chaos ${this.tag}`,
      ...(opts.replace && { replace: true }),
    };
    const res = await this.act(agent.name, { apiKey: agent.apiKey }, '/mesh/bid', body);
    // The same key with another body changes nothing and is refused with a 422.
    if (is2xx(res.status) && this.ctx.rnd.chance(settings.keyReuseProbability)) {
      await this.ctx.http.call('POST', '/mesh/bid', {
        actor: agent.name,
        credentials: { apiKey: agent.apiKey },
        body: { ...body, price_cents: Math.max(0, priceCents - 1) },
        contractId: this.id,
        key: res.exchange.key,
        probeOf: res.exchange.seq,
        keyReuse: true,
      });
    }
    return res;
  }

  /** Bids from each agent at 50–95 % of the reward, all at once; sometimes one replaces its bid. */
  async bidAll(agents: Agent[]): Promise<Answer[]> {
    const reward = Number(this.view?.reward_cents ?? 1000);
    const answers = await Promise.all(agents.map((a) => this.bid(a, Math.round((reward * this.ctx.rnd.int(50, 95)) / 100))));
    const replacer = agents.find((_, i) => is2xx(answers[i]!.status));
    if (replacer && this.ctx.rnd.chance(0.15)) await this.bid(replacer, Math.round(reward * 0.45), { replace: true });
    return answers;
  }

  closeBidding(): Promise<Answer> {
    return this.act(this.owner.name, this.ownerCreds, `/contracts/${this.id}/close-bidding`, undefined);
  }

  award(bidId: string): Promise<Answer> {
    return this.act(this.owner.name, this.ownerCreds, `/contracts/${this.id}/award`, { bid_id: bidId });
  }

  deliver(agent: Agent): Promise<Answer> {
    return this.act(agent.name, { apiKey: agent.apiKey }, '/mesh/deliver', { contract_id: this.id, output: { summary: `chaos ${this.tag} by ${agent.name}` } });
  }

  accept(): Promise<Answer> {
    return this.act(this.owner.name, this.ownerCreds, `/contracts/${this.id}/accept`, { rating: this.ctx.rnd.int(1, 5), comment: `chaos accept ${this.tag}` });
  }

  reject(round: number): Promise<Answer> {
    return this.act(this.owner.name, this.ownerCreds, `/contracts/${this.id}/reject`, { reason: `chaos reject ${this.tag} round ${round}` });
  }

  cancel(): Promise<Answer> {
    return this.act(this.owner.name, this.ownerCreds, `/contracts/${this.id}/cancel`, { reason: `chaos cancel ${this.tag}` });
  }

  /** Stripe tells Hermes about this contract's payment (twice: a redelivery). */
  async stripe(type: StripeEventType): Promise<void> {
    const pi = await paymentIntentOf(this.ctx.http, this.owner.token, this.id);
    if (!pi) {
      this.notes.push(`no payment intent in the owner's history for ${type}`);
      return;
    }
    this.webhooks.push(await sendStripeEvent(this.ctx.http, this.id, type, pi));
  }
}
