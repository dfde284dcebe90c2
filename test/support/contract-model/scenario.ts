import fc from 'fast-check';
import type { PaymentSignal } from '../../../domain/contract-types';
import type { ContractRun, TimeTarget } from './contract-run';
import type { Cmd, Model } from './model';
import { Lag, Outage, Race, Restart, Retry, SandboxEnds, PassTime, Then, Webhook } from './moves';
import { Accept, Award, Bid, Cancel, Close, Deliver, Reject, type Agent, type Flaw } from './requests';
import { mostly, runConfig, type RunConfig } from './run-config';

// What a run of the model test is: a contract's settings and a random sequence of moves on it.

/** The bids placed before the generated commands (RunConfig.openingBids). */
export async function placeOpeningBids(model: Model, run: ContractRun): Promise<void> {
  // With a sandbox agent, it bids first and cheapest: an auto award goes to it.
  const opening = model.config.sandbox
    ? [new Bid('S', 2_000, false, 'none', false), new Bid('A', 4_000, false, 'none', false)]
    : [new Bid('A', 4_000, false, 'none', false), new Bid('B', 2_000, false, 'none', false)];
  for (const bid of opening.slice(0, model.config.openingBids)) await bid.run(model, run);
}

const agent = fc.constantFrom<Agent>('A', 'B', 'S');
const owner = mostly(true, false);
const anytime = mostly(false, true);

const bid = fc
  .tuple(agent, fc.constantFrom(2_000, 4_000, 8_000), fc.boolean(), mostly<Flaw>('none', 'too-dear', 'bad-confidence'), anytime)
  .map(([a, price, replace, flaw, any]) => new Bid(a, price, replace, flaw, any));
const close = fc.tuple(owner, anytime).map(([o, any]) => new Close(o, any));
const awardBid = fc
  .tuple(fc.oneof({ weight: 6, arbitrary: agent }, { weight: 1, arbitrary: fc.constant('unknown' as const) }), anytime)
  .map(([a, any]) => new Award(a, any));
const deliverBy = fc
  .tuple(fc.oneof({ weight: 4, arbitrary: fc.constant('awarded' as const) }, { weight: 2, arbitrary: fc.constantFrom<Agent | 'X'>('A', 'B', 'S', 'X') }), anytime)
  .map(([w, any]) => new Deliver(w, any));
const acceptBy = fc.tuple(mostly(5, 0, 3), owner, anytime).map(([rating, o, any]) => new Accept(rating, o, any));
const rejectBy = fc.tuple(owner, anytime).map(([o, any]) => new Reject(o, any));
const cancelBy = fc.tuple(owner, anytime).map(([o, any]) => new Cancel(o, any));

const lag = fc
  .oneof(
    { weight: 3, arbitrary: fc.constant('recordDelivery') },
    { weight: 2, arbitrary: fc.constant('recordAward') },
    { weight: 2, arbitrary: fc.constantFrom('holdEscrow', 'captureEscrow', 'settleContract') },
  )
  .map((a) => new Lag(a));
const passTime = (hoursWeight: number) =>
  fc
    .tuple(fc.oneof(fc.constantFrom<TimeTarget>('bidding', 'award', 'delivery', 'review'), { weight: hoursWeight, arbitrary: fc.constant<TimeTarget>('hours') }), anytime)
    .map(([t, any]) => new PassTime(t, any));

const race = (move: fc.Arbitrary<Cmd>, activities: string[], next: fc.Arbitrary<Cmd>) =>
  fc.tuple(move, fc.constantFrom(...activities), next).map(([m, a, n]): Cmd => new Race(m, a, n));

const webhook = fc.constantFrom<PaymentSignal['kind']>('succeeded', 'failed', 'refunded', 'disputed').map((k) => new Webhook(k));
const sandboxEnds = fc.constantFrom<'ok' | 'fail'>('ok', 'fail').map((o) => new SandboxEnds(o));
const retry = fc.nat(3).map((n) => new Retry(n));
const outage = fc.oneof(bid, close, deliverBy, acceptBy, cancelBy).map((r) => new Outage(r));

// Moves weighted by what the run's contract can do, so that few generated commands are
// skipped as meaningless (a manual award on an auto contract is still sent now and then).
function commandFor(config: RunConfig): fc.Arbitrary<Cmd> {
  const weighted = (weight: number, arbitrary: fc.Arbitrary<Cmd>) => ({ weight, arbitrary });
  const moves = [
    weighted(6, bid),
    weighted(3, close),
    weighted(config.awardMode === 'manual' ? 6 : 1, awardBid),
    weighted(5, deliverBy),
    weighted(4, acceptBy),
    weighted(2, rejectBy),
    weighted(2, cancelBy),
    weighted(config.payment === 'requires_action' || config.earlyCapture ? 4 : 1, webhook),
    weighted(3, passTime(config.earlyCapture ? 3 : 1)),
    weighted(2, retry),
    weighted(4, lag),
  ];
  if (config.sandbox) moves.push(weighted(3, sandboxEnds));
  // The races the contract's facts must survive: a review or cancel while the delivery's write
  // is out, a delivery by hand or a cancel while the award's write (with its plan) or hold is.
  const review = fc.oneof(acceptBy, rejectBy, cancelBy);
  const awarding = config.awardMode === 'manual' ? awardBid : close;
  moves.push(
    weighted(4, race(deliverBy, ['recordDelivery'], fc.oneof(review, deliverBy))),
    weighted(3, race(awarding, ['recordAward', 'holdEscrow'], fc.oneof(deliverBy, cancelBy))),
  );
  // A cancel once the delivery is in (its write still out) must be refused, not left to answer SETTLED.
  moves.push(weighted(2, race(fc.constant(new Deliver('awarded', false)), ['recordDelivery'], fc.constant(new Cancel(true, false)))));
  if (config.sandbox) {
    const byHand = fc.constant(new Deliver('awarded', false));
    moves.push(weighted(3, race(sandboxEnds, ['recordDelivery'], review)), weighted(3, race(awarding, ['recordAward'], byHand)));
  }
  if (config.earlyCapture) {
    const backAtStripe = fc.constantFrom<PaymentSignal['kind']>('refunded', 'disputed').map((k) => new Webhook(k));
    moves.push(weighted(4, fc.tuple(fc.constant(new PassTime('hours', false)), backAtStripe).map(([a, b]): Cmd => new Then(a, b))));
  }
  if (config.restartable) moves.push(weighted(1, fc.constant(new Restart())), weighted(1, outage));
  return fc.oneof(...moves);
}

/** One run: the contract's settings and the moves made on it. */
export const scenario = runConfig.chain((config) =>
  fc.tuple(fc.constant(config), fc.commands([commandFor(config)], { maxCommands: 25, size: 'medium' })),
);
