import { isDeepStrictEqual } from 'node:util';
import type { BidView, ContractOutcome, ContractState, DeliveryView } from '../../../domain/contract-types';
import { TERMINAL_STATUSES } from '../../../domain/statuses';
import { OWNER, show, within, type Attempt, type ContractRun, type Req } from './contract-run';
import { SANDBOX_AGENT } from './outside-world';
import { violation } from './properties';
import { idleness } from './history';
import { awardOf, callsOf, deliveryOf, metricsOf, type Call } from './timeline';

// The checks behind the properties (properties.ts), after every answer and at the end of a run.

const okAnswer = (req: Req) => req.attempts.find((a) => a.answer?.ok);
const carries = (value: unknown, token: string) => JSON.stringify(value ?? null).includes(token);
const isReview = (req: Req) => req.kind === 'accept' || req.kind === 'reject';

/** After every answer a client gets (and again for answers that came late). */
export async function checkAnswer(run: ContractRun, req: Req, attempt: Attempt): Promise<void> {
  const answer = attempt.answer!;
  const name = `#${req.n} ${req.label}`;

  // Same update id, same answer, once one attempt was accepted; a refusal before any attempt
  // was accepted left nothing behind (Temporal keeps only accepted updates), so a later attempt
  // is a fresh request.
  const index = req.attempts.indexOf(attempt);
  for (const [i, other] of req.attempts.entries()) {
    if (!other.answer || other === attempt) continue;
    const [earlier, later] = i < index ? [other, attempt] : [attempt, other];
    if (earlier.answer!.ok && !isDeepStrictEqual(earlier.answer, later.answer)) {
      violation(run, 'retry', `${name}: the ${earlier.how} attempt got ${show(earlier.answer!)}, the ${later.how} attempt ${show(later.answer!)}`);
    }
  }

  if (isReview(req) && req.userId === OWNER && req.wellFormed && attempt.row.status === 'DELIVERED' && !attempt.row.reviewed && !answer.ok) {
    violation(run, 'reviewWhileDelivered', `${name} (${attempt.how}) was ${show(answer)} while the row showed DELIVERED with no review`);
  }

  if (req.kind === 'deliver' && run.config.sandbox && req.agentId === SANDBOX_AGENT && answer.ok) {
    violation(run, 'sandboxDelivery', `${name} was accepted`);
  }

  if (answer.ok) acceptedShows(run, req, answer.value, await run.state(), attempt);
  // (The workflow's state is read for refusals once, at the end.)
  else if (!okAnswer(req)) refusedLeftNothing(run, req, null);
}

function acceptedShows(run: ContractRun, req: Req, value: unknown, state: ContractState, attempt: Attempt): void {
  const name = `#${req.n} ${req.label}`;
  const fail = (what: string) => violation(run, 'truthful', `${name} was accepted but ${what}`);
  const stored = run.timeline.some((e) => e.type === 'call' && carries(e.args, req.token));
  const row = run.row();
  // Since the request was first taken, the contract may have closed or gone on to another
  // award (a rejection starts the next round at once).
  const since = okAnswer(req)?.row ?? attempt.row;
  const movedOn = TERMINAL_STATUSES.includes(state.status) || row.round > since.round || (state.award?.agentId ?? null) !== since.awardedAgent;
  switch (req.kind) {
    case 'bid': {
      const bid = value as BidView;
      if (bid.message !== req.token) fail(`answered with another bid (${JSON.stringify(bid)})`);
      const latest = [...run.requests].reverse().find((r) => r.kind === 'bid' && r.agentId === req.agentId && okAnswer(r));
      if (latest === req && state.bids.find((b) => b.agentId === req.agentId)?.message !== req.token) fail('the contract does not hold the bid');
      break;
    }
    case 'close':
      if (state.biddingOpen) fail('bidding is still open');
      break;
    case 'award': {
      const view = value as ContractState;
      if (view.award?.bidId !== req.bidId && view.status !== 'CANCELLED') fail(`the answer shows award ${view.award?.bidId ?? 'none'} (${view.status})`);
      break;
    }
    case 'deliver':
      if ((value as DeliveryView).output !== req.token) fail('answered with another delivery');
      if (!stored) fail('no delivery row was written');
      if (!movedOn && !carries(state.delivery, req.token)) fail('the contract does not hold the delivery');
      break;
    case 'accept':
    case 'reject':
      if (!stored) fail('no review row was written');
      if (!movedOn && !carries(state.review, req.token)) fail('the contract does not hold the review');
      break;
    case 'cancel':
      if ((value as ContractState).status !== 'CANCELLED') fail(`it answered ${(value as ContractState).status}`);
      break;
  }
}

function refusedLeftNothing(run: ContractRun, req: Req, state: ContractState | null): void {
  const written = run.timeline.find((e) => e.type === 'call' && carries(e.args, req.token)) as Call | undefined;
  if (written) violation(run, 'truthful', `#${req.n} ${req.label} was refused but ${written.name} stored it`);
  if (state && carries(state, req.token)) violation(run, 'truthful', `#${req.n} ${req.label} was refused but the contract holds it`);
}

/** At the end, after time ran until the contract closed. */
export async function checkRun(run: ContractRun, outcome: ContractOutcome): Promise<void> {
  const history = idleness(await run.handle.fetchHistory(), new Set());
  if (history.taskFailures.length) violation(run, 'terminal', `workflow tasks failed: ${history.taskFailures.join('; ')}`);
  if (!TERMINAL_STATUSES.includes(outcome.status)) violation(run, 'terminal', `it closed ${outcome.status}`);
  const state = await run.state();
  const row = run.row();
  if (state.status !== outcome.status || row.status !== outcome.status) {
    violation(run, 'terminal', `closed ${outcome.status}, but the workflow shows ${state.status} and the row ${row.status}`);
  }

  // Every request is answered once the contract closed; answers that came late are checked now.
  for (const req of run.requests) {
    for (const attempt of req.attempts) {
      if (!(await within(attempt.outcome, 5_000))) violation(run, 'truthful', `#${req.n} ${req.label} (${attempt.how}) never got an answer`);
    }
  }
  for (const { req, attempt } of run.pending) await checkAnswer(run, req, attempt);

  acceptedTookEffect(run, outcome, state);
  moneyBalanced(run, outcome);
  blameOnlyTheAgent(run, outcome);
}

function acceptedTookEffect(run: ContractRun, outcome: ContractOutcome, state: ContractState): void {
  const awards = callsOf(run.timeline, 'recordAward').map(awardOf);
  const settled = callsOf(run.timeline, 'settleContract').map((c) => c.args[0] as { agentId: string });
  for (const req of run.requests) {
    const name = `#${req.n} ${req.label}`;
    const fail = (what: string) => violation(run, 'truthful', `${name} was accepted but ${what}`);
    if (!okAnswer(req)) {
      // Refused: nor did it take effect later.
      refusedLeftNothing(run, req, state);
      if (req.kind === 'award' && awards[0]?.mode === 'manual' && awards[0].bidId === req.bidId && !run.requests.some((r) => r.kind === 'award' && r.bidId === req.bidId && okAnswer(r))) {
        violation(run, 'truthful', `${name} was refused but the contract was awarded to that bid`);
      }
      continue;
    }
    if (req.kind === 'cancel' && outcome.status !== 'CANCELLED') fail(`the contract ended ${outcome.status}`);
    if (req.kind === 'accept' && !(outcome.status === 'SETTLED' || outcome.failureReason === 'payment_failed')) fail(`the contract ended ${outcome.status}/${outcome.failureReason}`);
    if (req.kind === 'reject') {
      const rejected = okAnswer(req)!.row.delivery?.agentId;
      if (settled.some((s) => s.agentId === rejected)) fail(`the rejected agent ${rejected} was paid`);
    }
    if (req.kind === 'award' && !awards.some((a) => a.bidId === req.bidId) && outcome.status !== 'CANCELLED') fail('the contract was not awarded to that bid');
    if (req.kind === 'close') {
      const late = run.requests.find((r) => r.kind === 'bid' && r.n > req.n && okAnswer(r));
      if (late) violation(run, 'truthful', `#${late.n} ${late.label} was accepted after bidding was closed by ${name}`);
    }
  }
  // Every accepted bid is what the award weighed: the agent's latest accepted bid is in the ranking.
  const first = awards[0];
  if (first) {
    const latest = new Map<string, Req>();
    for (const req of run.requests) if (req.kind === 'bid' && okAnswer(req)) latest.set(req.agentId!, req);
    for (const [agentId, req] of latest) {
      const bid = (okAnswer(req)!.answer as { value: BidView }).value;
      const ranked = first.ranking.find((r) => r.agentId === agentId);
      if (ranked?.bidId !== bid.bidId || ranked.priceCents !== bid.priceCents) {
        violation(run, 'truthful', `#${req.n} ${req.label} was accepted but the award weighed ${ranked ? `${ranked.priceCents} cents` : 'no bid'} for ${agentId}`);
      }
    }
  }
  // Every accepted bid is written by the workflow when bidding ends: with the award, or with the
  // ending of a contract never awarded. (The API writes it before its answer too: db/bids.ts.)
  const latestBids = new Map<string, Req>();
  for (const req of run.requests) if (req.kind === 'bid' && okAnswer(req)) latestBids.set(req.agentId!, req);
  const ending = callsOf(run.timeline, 'setContractStatus').find((c) => TERMINAL_STATUSES.includes(c.args[1] as ContractOutcome['status']));
  const written = (callsOf(run.timeline, 'recordAward')[0]?.args[2] ?? (ending?.args[3] as { bids?: BidView[] } | undefined)?.bids) as BidView[] | undefined;
  if (outcome.failureReason !== 'system_error') {
    for (const req of latestBids.values()) {
      if (!written?.some((b) => b.message === req.token)) violation(run, 'truthful', `#${req.n} ${req.label} was accepted but no write when bidding ended carried it`);
    }
  }
  // A manual contract's first award is the owner's pick (re-awards follow the ranking).
  if (first?.mode === 'manual' && !run.requests.some((r) => r.kind === 'award' && r.bidId === first.bidId && okAnswer(r))) {
    violation(run, 'truthful', `the contract was awarded by hand to bid ${first.bidId} that no accepted award request named`);
  }
  if (outcome.status === 'CANCELLED' && !run.requests.some((r) => r.kind === 'cancel' && okAnswer(r) && outcome.statusDetail === r.token)) {
    violation(run, 'truthful', `the contract was cancelled (${outcome.statusDetail}) by no accepted cancel`);
  }
}

type Money = 'authorized' | 'requires_action' | 'captured' | 'voided' | 'refunded' | 'failed' | 'taken back';

// Per award round (idempotency keys end in -rN from round 2): what the card hold became.
function moneyBalanced(run: ContractRun, outcome: ContractOutcome): void {
  const fail = (what: string) => violation(run, 'money', what);
  const roundOf = (c: Call) => Number(/-r(\d+)$/.exec((c.args[0] as { idempotencyKey: string }).idempotencyKey)?.[1] ?? 1);
  const rounds = new Map<number, Money>();
  const captured = new Map<number, number>();
  let latest = 0;
  for (const e of run.timeline) {
    if (e.type === 'signal') {
      // Stripe gave the money back to the customer (a refund from its dashboard, a chargeback).
      if ((e.kind === 'refunded' || e.kind === 'disputed') && rounds.get(latest) === 'captured') rounds.set(latest, 'taken back');
      continue;
    }
    if (e.type !== 'call') continue;
    const was = (r: number) => rounds.get(r);
    switch (e.name) {
      case 'holdEscrow':
        latest = roundOf(e);
        if (!was(latest)) rounds.set(latest, run.config.payment);
        break;
      case 'confirmEscrow':
        if (was(latest) === 'requires_action') rounds.set(latest, 'authorized');
        break;
      case 'failEscrow':
        rounds.set(latest, 'failed');
        break;
      case 'captureEscrow':
      case 'settleContract': {
        // Settlement captures the hold in its own transaction when it is still a hold.
        const capture = (e.name === 'captureEscrow' ? e.args[0] : (e.args[0] as { capture?: unknown }).capture) as { amountCents: number; idempotencyKey: string } | undefined;
        if (!capture) break;
        const r = roundOf({ ...e, args: [capture] });
        if (was(r) === 'captured') break; // the same capture, retried
        if (was(r) !== 'authorized') fail(`round ${r}: a capture of a payment that is ${was(r) ?? 'not held'}`);
        rounds.set(r, 'captured');
        captured.set(r, capture.amountCents);
        break;
      }
      case 'voidEscrow': {
        const r = roundOf(e);
        if (was(r) === 'voided') break;
        if (was(r) !== 'authorized' && was(r) !== 'requires_action') fail(`round ${r}: a void of a payment that is ${was(r) ?? 'not held'}`);
        rounds.set(r, 'voided');
        break;
      }
      case 'refundEscrow': {
        const r = roundOf(e);
        if (was(r) === 'refunded') break;
        if (was(r) === 'taken back') fail(`round ${r}: a 0-amount refund — Stripe had already given the money back (${run.timeline.filter((x) => x.type === 'signal').map((x) => (x as { kind: string }).kind).join(', ')})`);
        if (was(r) !== 'captured') fail(`round ${r}: a 0-amount refund of a payment that is ${was(r) ?? 'not held'}`);
        rounds.set(r, 'refunded');
        break;
      }
    }
  }
  const settlements = callsOf(run.timeline, 'settleContract').map((c) => c.args[0] as { idempotencyKey: string; priceCents: number });
  const keys = new Set(settlements.map((s) => s.idempotencyKey));
  const open = [...rounds].filter(([, m]) => m === 'authorized' || m === 'requires_action' || m === 'captured');
  if (outcome.status === 'SETTLED') {
    if (keys.size !== 1) fail(`SETTLED with ${keys.size} settlements`);
    // Exactly one capture stands: the final round's, for the price settled.
    const final = Math.max(0, ...rounds.keys());
    // (Stripe taking the final round's money back later is the payment-reversal workflow's.)
    const kept = [...rounds].filter(([r, m]) => m === 'captured' || (r === final && m === 'taken back'));
    if (kept.length !== 1 || kept[0]![0] !== final) fail(`SETTLED with ${kept.length} captures standing (${[...rounds].map(([r, m]) => `round ${r} ${m}`).join(', ')})`);
    if (captured.get(final) !== settlements[0]!.priceCents) fail(`SETTLED at ${settlements[0]!.priceCents} cents but ${captured.get(final)} were captured`);
    const stillOpen = open.filter(([r]) => r !== final);
    if (stillOpen.length) fail(`SETTLED, but the payment of round ${stillOpen[0]![0]} is still ${stillOpen[0]![1]}`);
  } else {
    if (keys.size) fail(`${outcome.status} but the contract was settled`);
    if (open.length) fail(`${outcome.status}, but the payment of round ${open[0]![0]} is still ${open[0]![1]}`);
  }
}

function blameOnlyTheAgent(run: ContractRun, outcome: ContractOutcome): void {
  const fail = (what: string) => violation(run, 'blame', what);
  const awards = callsOf(run.timeline, 'recordAward').map(awardOf);
  const deliveries = callsOf(run.timeline, 'recordDelivery').map(deliveryOf);
  const metrics = metricsOf(run.timeline);
  const failures = metrics.filter((m) => m.outcome === 'failure');
  for (const m of failures) {
    const rounds = awards.flatMap((a, i) => (a.agentId === m.agentId ? [i + 1] : []));
    if (!rounds.length) fail(`${m.agentId} was never awarded but was counted ${m.failureReason}`);
    if (m.failureReason === 'rejected') {
      const rejectedIt = (r: Req) => r.kind === 'reject' && r.attempts.some((a) => a.answer?.ok && a.row.delivery?.agentId === m.agentId);
      if (!run.requests.some(rejectedIt)) fail(`${m.agentId} was counted rejected, but no rejection of its delivery was accepted`);
    } else if (m.failureReason === 'delivery_missed') {
      if (rounds.every((r) => deliveries.some((d) => d.agentId === m.agentId && d.attempt === r))) fail(`${m.agentId} was counted delivery_missed, but it delivered`);
    } else if (m.failureReason === 'execution_failed') {
      if (!run.timeline.some((e) => e.type === 'sandbox' && e.agentId === m.agentId && e.outcome === 'fail')) fail(`${m.agentId} was counted execution_failed, but its run did not fail`);
    } else {
      fail(`${m.agentId} was counted a failure for ${m.failureReason}, which is not the agent's doing`);
    }
    if (failures.filter((f) => f.agentId === m.agentId).length > rounds.length) fail(`${m.agentId} was counted more failures than it had awards`);
  }
  const last = awards.at(-1);
  const agentReasons = ['rejected', 'delivery_missed', 'execution_failed'];
  if (outcome.status === 'FAILED' && last && agentReasons.includes(outcome.failureReason ?? '') && !failures.some((f) => f.agentId === last.agentId && f.failureReason === outcome.failureReason)) {
    fail(`the contract FAILED ${outcome.failureReason} but ${last.agentId} was not counted`);
  }
  for (const m of metrics.filter((x) => x.outcome === 'success')) {
    if (outcome.status !== 'SETTLED' || m.agentId !== last?.agentId) fail(`${m.agentId} was counted a success in a contract that ended ${outcome.status}`);
  }
}
