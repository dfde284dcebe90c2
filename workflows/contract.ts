import * as wf from '@temporalio/workflow';
import type { ContractInput, ContractOutcome, DeliveryView, Review } from '../domain/contract-types';
import { msUntil, nowIso } from './clock';
import { persistContract, recordReview } from './contract-activities';
import { chooseAward, nextInRanking } from './contract-award';
import { endAfterFault, finish, isDataRejected, releaseAward } from './contract-endings';
import { accept, award, cancel, closeBidding, created, deliver, getState, paymentEvent, reject, submitBid } from './contract-messages';
import { ContractProcess, refuse } from './contract-process';
import { serveAward, storeDelivery } from './contract-round';
import { EscrowSaga } from './escrow-saga';

// One contract, post to settlement: BIDDING → AWARDED → IN_PROGRESS → DELIVERED → SETTLED,
// with exits EXPIRED, CANCELLED and FAILED. State changes are ContractProcess's methods;
// the escrow is a saga (escrow-saga.ts); one award's work is contract-round.ts.

export async function contractWorkflow(input: ContractInput): Promise<ContractOutcome> {
  const c = new ContractProcess(input, Date.now());
  const escrow = new EscrowSaga(c);
  registerHandlers(c);
  const outcome = await run(c, escrow).catch((err: unknown) => endAfterFault(c, escrow, err));
  // Let handlers waiting on the final status (cancel, award) answer before the run closes.
  await wf.condition(wf.allHandlersFinished);
  return outcome;
}

async function run(c: ContractProcess, escrow: EscrowSaga): Promise<ContractOutcome> {
  await persistContract(c.input, c.biddingDeadline);
  c.markPersisted();
  // Bidding: until the deadline, closeBidding, a manual award or a cancel.
  await wf.condition(() => !c.biddingOpen || c.cancelRequested, msUntil(c.biddingDeadline));
  c.closeBidding();
  let chosen = c.cancelRequested ? null : await chooseAward(c);
  for (;;) {
    if (c.cancelRequested) return finish(c, escrow, 'CANCELLED', null, c.cancelReason);
    if (!chosen) return finish(c, escrow, 'EXPIRED', null, c.statusDetail);
    const served = await serveAward(c, escrow, chosen);
    if ('status' in served) return served;
    // The awarded agent failed: the next-ranked eligible bid may take over, a bounded number of times.
    chosen = c.reawards < (c.input.maxReawards ?? 0) ? nextInRanking(c) : null;
    if (!chosen) return finish(c, escrow, 'FAILED', served.reason, served.detail, served.actualSeconds);
    await releaseAward(c, escrow, served);
  }
}

function registerHandlers(c: ContractProcess): void {
  wf.setHandler(getState, () => c.view());
  wf.setHandler(paymentEvent, (signal) => c.paymentSignal(signal));
  wf.setHandler(created, async () => {
    await wf.condition(() => c.persisted || c.creationFailure !== null);
    if (c.creationFailure) {
      if (isDataRejected(c.creationFailure)) refuse('VALIDATION_ERROR', `the contract could not be stored: ${c.creationFailure.cause?.message}`);
      refuse('UNAVAILABLE', 'the contract could not be stored right now; retry');
    }
    return c.view();
  });

  // The bid is the workflow's once taken; the API writes its row before it answers, and the
  // award (or the ending) writes every bid the workflow holds (db/bids.ts).
  wf.setHandler(
    submitBid,
    async (req) => {
      // Its row needs the contract's: a bid sent while the contract is being stored waits.
      if (!c.persisted) {
        await wf.condition(() => c.persisted || c.creationFailure !== null);
        if (c.creationFailure) refuse('UNAVAILABLE', 'the contract could not be stored; retry');
        c.validateBid(req);
      }
      return c.applyBid(req, wf.uuid4(), nowIso());
    },
    { validator: (req) => c.validateBid(req) },
  );
  wf.setHandler(closeBidding, () => (c.closeBidding(), c.view()), { validator: (caller) => c.validateCloseBidding(caller) });
  wf.setHandler(
    award,
    async (req) => {
      c.requestManualAward(req.bidId);
      await wf.condition(() => c.status !== 'BIDDING');
      return c.view();
    },
    { validator: (req) => c.validateManualAward(req) },
  );
  wf.setHandler(
    deliver,
    async (req) => {
      // Sent as soon as the agent heard of its award: the work starts once the escrow holds.
      const { round } = c;
      await wf.condition(() => c.decided !== 'AWARDED' || c.cancelRequested || c.round !== round);
      c.validateDeliver(req, Date.now());
      const { bidId } = c.award!;
      const delivery: DeliveryView = { deliveryId: wf.uuid4(), agentId: req.agentId, bidId, attempt: c.round, output: req.output, deliveredAt: nowIso() };
      await tracked(c, 'delivery', () => storeDelivery(c, delivery), () => c.deliveryDropped());
      return delivery;
    },
    { validator: (req) => c.validateDeliver(req, Date.now()) },
  );
  const review = (r: Omit<Review, 'automatic' | 'reviewedAt'>) => takeReview(c, { ...r, automatic: false, reviewedAt: nowIso() });
  wf.setHandler(accept, (req) => review({ decision: 'accepted', rating: req.rating, comment: req.comment ?? null, reason: null }), {
    validator: (req) => c.validateAccept(req),
  });
  wf.setHandler(reject, (req) => review({ decision: 'rejected', rating: null, comment: null, reason: req.reason }), { validator: (req) => c.validateReview(req) });
  wf.setHandler(
    cancel,
    async (req) => {
      c.requestCancel(req.reason);
      await wf.condition(() => c.isTerminal);
      return c.view();
    },
    { validator: (req) => c.validateCancel(req) },
  );
}

// A review may come while its delivery's row is still being written: it holds the review slot
// at once, then waits for that write.
// A review sent while the delivery's acceptance checks run waits for them, then applies —
// unless the checks decided (a failure rejects, a pass with on_pass settle accepts): then the
// validator's own refusal answers it (409).
async function takeReview(c: ContractProcess, review: Review) {
  if (c.validating) {
    await wf.condition(() => !c.validating);
    c.validateReview({ userId: c.input.userId });
  }
  c.reviewTaken(review);
  await wf.condition(() => !c.deliveryPending);
  if (!c.delivery) {
    c.reviewDropped();
    refuse('INVALID_STATE', 'the delivery could not be stored, so there is nothing to review');
  }
  const { attempt } = c.delivery;
  await tracked(c, 'review', () => recordReview(c.input.contractId, attempt, review), () => c.reviewDropped());
  c.reviewStored();
  return c.view();
}

// An update handler's write. If Postgres refuses it, or it fails past its retry bound, the
// handler's change is undone and its caller told — the contract goes on without it.
async function tracked(c: ContractProcess, what: string, write: () => Promise<unknown>, undo: () => void): Promise<void> {
  c.writeStarted();
  try {
    await write();
  } catch (err) {
    if (!(err instanceof wf.ActivityFailure)) throw err;
    undo();
    if (isDataRejected(err)) refuse('VALIDATION_ERROR', `the ${what} could not be stored: ${err.cause?.message}`);
    refuse('UNAVAILABLE', `the ${what} could not be stored right now; retry`);
  } finally {
    c.writeFinished();
  }
}
