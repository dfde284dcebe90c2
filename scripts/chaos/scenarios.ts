import { GENERAL, SPECIAL, WASM_CAPS, type Agent } from './actors';
import { Drive, type RunContext } from './drive';
import { is2xx } from './journal';
import { sleep } from './random';

// The paths a contract takes in a run, each played as its clients would: the owner posts and
// reviews, agents bid and deliver, Stripe sends webhooks. Windows are short where the path
// waits one out (expiry, missed delivery, silence) and long where a client acts, so a fault
// delays an action without changing which path the contract takes.

type Path = (d: Drive) => Promise<void>;

const LONG = { bidding_window_seconds: 900, delivery_window_seconds: 900, review_window_seconds: 900 };

/** Required capabilities: none, the specialists' one, or more than a specialist has. */
function someCapabilities(d: Drive): string[] {
  return d.ctx.rnd.pick([[], SPECIAL, ['pdf', 'summarise'], ['text']]);
}

/** n distinct agents that hold every required capability (WASM agents only when asked for). */
function bidders(d: Drive, caps: string[], n: number): Agent[] {
  const { cast, rnd } = d.ctx;
  const wasm = caps.some((c) => WASM_CAPS.includes(c));
  const pool = cast.all.filter((a) => a.wasm === wasm && caps.every((c) => a.capabilities.includes(c)));
  const chosen: Agent[] = [];
  while (chosen.length < Math.min(n, pool.length)) {
    const a = rnd.pick(pool);
    if (!chosen.includes(a)) chosen.push(a);
  }
  return chosen;
}

async function post(d: Drive, fields: Record<string, unknown>): Promise<string[] | null> {
  const caps = (fields.required_capabilities as string[] | undefined) ?? someCapabilities(d);
  const lister = d.ctx.rnd.chance(0.3) ? bidders(d, caps, 1)[0] : undefined;
  return (await d.create({ required_capabilities: caps, ...fields }, lister)) ? caps : null;
}

/** Bids, and now and then a bid from an agent that lacks a capability (it must get a 403). */
async function bidOn(d: Drive, caps: string[], n: number) {
  const answers = await d.bidAll(bidders(d, caps, n));
  if (!caps.every((c) => SPECIAL.includes(c)) && d.ctx.rnd.chance(0.2)) await d.bid(d.ctx.rnd.pick(d.ctx.cast.specialists), 100);
  return answers;
}

/** The awarded agent delivers once the owner sees IN_PROGRESS; returns it. */
async function winnerDelivers(d: Drive, not?: Agent): Promise<Agent | null> {
  const v = await d.waitFor('IN_PROGRESS', (x) => x.status === 'IN_PROGRESS' && x.award && x.award.agent_id !== not?.id);
  const agent = v && d.agentById(v.award.agent_id);
  if (!agent) return null;
  await d.deliver(agent);
  return agent;
}

async function thenReview(d: Drive, decision: 'accept' | 'reject', round = 1): Promise<boolean> {
  const v = await d.waitFor('DELIVERED', (x) => x.status === 'DELIVERED' && (x.deliveries?.length ?? 0) >= round);
  if (!v) return false;
  const res = decision === 'accept' ? await d.accept() : await d.reject(round);
  return is2xx(res.status);
}

const autoThenClose = async (d: Drive, fields: Record<string, unknown> = {}) => {
  const caps = await post(d, { ...LONG, ...fields });
  if (!caps) return null;
  await bidOn(d, caps, d.ctx.rnd.int(2, 3));
  await d.closeBidding();
  return caps;
};

export const PATHS: (readonly [string, Path, number])[] = [
  [
    'auto award, accept',
    async (d) => {
      if (!(await autoThenClose(d))) return;
      if (await winnerDelivers(d)) await thenReview(d, 'accept');
    },
    16,
  ],
  [
    'auto award at the deadline, accept',
    async (d) => {
      const caps = await post(d, { ...LONG, bidding_window_seconds: 6 });
      if (!caps) return;
      await bidOn(d, caps, 2);
      if (await winnerDelivers(d)) await thenReview(d, 'accept');
    },
    8,
  ],
  [
    'manual award, accept',
    async (d) => {
      const caps = await post(d, { ...LONG, award_mode: 'manual', award_window_seconds: 900 });
      if (!caps) return;
      const answers = await bidOn(d, caps, 3);
      const ok = answers.filter((a) => is2xx(a.status));
      if (!ok.length) return;
      // The owner picks a bid that is not necessarily the best-ranked one.
      await d.award(d.ctx.rnd.pick(ok).body.bid.id);
      if (await winnerDelivers(d)) await thenReview(d, 'accept');
    },
    10,
  ],
  [
    'reject, no re-award',
    async (d) => {
      if (!(await autoThenClose(d, { max_reawards: 0 }))) return;
      if (await winnerDelivers(d)) await thenReview(d, 'reject');
    },
    7,
  ],
  [
    'reject, re-award, accept',
    async (d) => {
      if (!(await autoThenClose(d, { max_reawards: 1 }))) return;
      const first = await winnerDelivers(d);
      if (!first || !(await thenReview(d, 'reject'))) return;
      if (await winnerDelivers(d, first)) await thenReview(d, 'accept', 2);
    },
    8,
  ],
  [
    'reject, re-award, reject',
    async (d) => {
      if (!(await autoThenClose(d, { max_reawards: 1 }))) return;
      const first = await winnerDelivers(d);
      if (!first || !(await thenReview(d, 'reject'))) return;
      if (await winnerDelivers(d, first)) await thenReview(d, 'reject', 2);
    },
    3,
  ],
  [
    'cancel while bidding',
    async (d) => {
      const caps = await post(d, LONG);
      if (!caps) return;
      if (d.ctx.rnd.chance(0.6)) await bidOn(d, caps, 1);
      await d.cancel();
    },
    6,
  ],
  [
    'cancel in progress',
    async (d) => {
      if (!(await autoThenClose(d))) return;
      if (await d.waitFor('IN_PROGRESS', (x) => x.status === 'IN_PROGRESS')) await d.cancel();
    },
    6,
  ],
  [
    'cancel while awaiting a manual award',
    async (d) => {
      const caps = await post(d, { ...LONG, award_mode: 'manual', award_window_seconds: 900 });
      if (!caps) return;
      await bidOn(d, caps, 2);
      await d.closeBidding();
      await d.cancel();
    },
    3,
  ],
  [
    'cancel after delivery (refused), accept',
    async (d) => {
      if (!(await autoThenClose(d))) return;
      if (!(await winnerDelivers(d))) return;
      if (!(await d.waitFor('DELIVERED', (x) => x.status === 'DELIVERED'))) return;
      await d.cancel();
      await d.accept();
    },
    5,
  ],
  [
    'bidding expires with no bids',
    async (d) => {
      await post(d, { bidding_window_seconds: 3 });
    },
    6,
  ],
  [
    'manual award never made',
    async (d) => {
      const caps = await post(d, { ...LONG, bidding_window_seconds: 3, award_mode: 'manual', award_window_seconds: 3 });
      if (caps) await bidOn(d, caps, 1);
    },
    3,
  ],
  [
    'missed delivery',
    async (d) => {
      if (!(await autoThenClose(d, { delivery_window_seconds: 5, max_reawards: 0 }))) return;
      const v = await d.waitFor('FAILED', (x) => x.status === 'FAILED');
      // Too late: the delivery must be refused.
      const late = v && d.agentById(v.award?.agent_id);
      if (late) await d.deliver(late);
    },
    5,
  ],
  [
    'missed delivery, re-award, accept',
    async (d) => {
      if (!(await autoThenClose(d, { delivery_window_seconds: 20, max_reawards: 1 }))) return;
      const first = await d.waitFor('IN_PROGRESS', (x) => x.status === 'IN_PROGRESS' && x.award);
      if (!first) return;
      if (await winnerDelivers(d, d.agentById(first.award.agent_id))) await thenReview(d, 'accept');
    },
    3,
  ],
  [
    'delivered, silence accepts',
    async (d) => {
      if (!(await autoThenClose(d, { review_window_seconds: 5 }))) return;
      await winnerDelivers(d);
    },
    5,
  ],
  [
    'WASM agent runs in the sandbox, accept',
    async (d) => {
      const caps = await post(d, { ...LONG, required_capabilities: WASM_CAPS, context: { text: `Agents bid. Hermes awards. ${d.tag}`, top: 3 } });
      if (!caps) return;
      const agent = d.ctx.rnd.pick(d.ctx.cast.wasm);
      await d.bid(agent, 300);
      await d.closeBidding();
      // Its binary delivers; a delivery by hand must be refused.
      if (await d.waitFor('the award', (x) => ['AWARDED', 'IN_PROGRESS', 'DELIVERED'].includes(x.status))) await d.deliver(agent);
      await thenReview(d, 'accept');
    },
    4,
  ],
  [
    'WASM re-award: reject the first run, accept the second',
    async (d) => {
      const caps = await post(d, { ...LONG, required_capabilities: WASM_CAPS, max_reawards: 1, context: { text: `Two runners. ${d.tag}` } });
      if (!caps) return;
      await Promise.all(d.ctx.cast.wasm.map((a, i) => d.bid(a, 300 + i * 50)));
      await d.closeBidding();
      if (!(await thenReview(d, 'reject'))) return;
      await thenReview(d, 'accept', 2);
    },
    2,
  ],
  [
    'settled, then refunded at Stripe',
    async (d) => {
      if (!(await autoThenClose(d, { required_capabilities: GENERAL }))) return;
      if (!(await winnerDelivers(d)) || !(await thenReview(d, 'accept'))) return;
      if (await d.waitFor('SETTLED', (x) => x.status === 'SETTLED')) await d.stripe('charge.refunded');
    },
    4,
  ],
  [
    'settled, then disputed at Stripe',
    async (d) => {
      if (!(await autoThenClose(d))) return;
      if (!(await winnerDelivers(d)) || !(await thenReview(d, 'accept'))) return;
      if (await d.waitFor('SETTLED', (x) => x.status === 'SETTLED')) await d.stripe('charge.dispute.created');
    },
    2,
  ],
  [
    'payment webhook while in progress, accept',
    async (d) => {
      if (!(await autoThenClose(d))) return;
      if (!(await d.waitFor('IN_PROGRESS', (x) => x.status === 'IN_PROGRESS'))) return;
      await d.stripe('payment_intent.amount_capturable_updated');
      await sleep(200);
      if (await winnerDelivers(d)) await thenReview(d, 'accept');
    },
    3,
  ],
];

export async function drivePath(ctx: RunContext, name: string, path: Path): Promise<Drive> {
  const d = new Drive(ctx, name, ctx.rnd.pick(ctx.cast.owners));
  try {
    await path(d);
    if (d.id) await d.waitTerminal();
  } catch (err) {
    d.notes.push(`driver error: ${(err as Error).stack ?? err}`);
  }
  return d;
}
