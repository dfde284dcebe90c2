import type { Agent, Cast } from './actors';
import type { ContractTruth, Truth } from './collect';
import { TERMINAL, type Drive } from './drive';
import type { Findings } from './findings';
import { is2xx, type Exchange, type Journal } from './journal';

// Every answer a client got must be true of what the contract did: a 2xx means it took effect,
// a refusal means it did not, a retry or a replay with the same key gets the first answer, and
// nothing a client could see (DELIVERED on its GET, an open bidding window) is contradicted by
// a refusal.

const CHECKS = [
  '2xx bid not in the contract\'s bids',
  'bid refused but recorded',
  'bid accepted from an agent lacking a capability',
  'bid answered 404 right after the 201',
  'last accepted bid price not the recorded price',
  '2xx delivery not recorded',
  'delivery refused but recorded',
  'manual delivery accepted for a sandbox agent',
  'delivery accepted after the contract ended',
  '2xx review not the recorded review',
  'review refused while GET showed DELIVERED',
  'review refused but recorded',
  'accepted but not SETTLED',
  '2xx cancel but not CANCELLED',
  'cancel accepted after delivery',
  'cancel refused but applied',
  'cancel refused before any delivery',
  'close-bidding refused while bidding was open',
  '2xx award not the award',
  'award refused but applied',
  'contract not found right after its 201',
  'contract missing from /mesh/contracts right after its 201',
  'same key, different answer',
  'key reused with another body not refused with 422',
  'webhook answered wrongly',
];

export function verifyAnswers(opts: { truth: Truth; journal: Journal; drives: Drive[]; cast: Cast }, f: Findings): void {
  const { truth, journal, cast } = opts;
  for (const c of CHECKS) f.check(c, true);
  f.check('requests never answered');

  const byName = new Map(cast.all.map((a) => [a.name, a]));
  const bySeq = new Map(journal.exchanges.map((x) => [x.seq, x]));
  for (const x of journal.exchanges) {
    if (!x.final) f.fail('requests never answered', `${x.route} by ${x.actor} for ${x.contractId ?? '-'}: ${x.attempts.map((a) => a.status || a.error).join(',')}`);
  }

  for (const [id, t] of truth.contracts) {
    if (!t.db) continue;
    const xs = journal.forContract(id).filter((x) => x.method === 'POST' && x.final && x.probeOf === undefined);
    const say = (check: string, x: Exchange, what: string) =>
      f.fail(check, `${id} ${x.actor} ${x.route} → ${x.final?.status} ${x.final?.body?.error?.code ?? ''} (saw ${x.sawStatus ?? '-'}): ${what}`, true);
    for (const x of xs) {
      const ok = is2xx(x.final!.status);
      const agent = byName.get(x.actor);
      switch (x.route) {
        case 'POST /mesh/bid':
          checkBid(t, x, ok, agent!, xs, say);
          break;
        case 'POST /mesh/deliver':
          checkDelivery(t, x, ok, agent!, xs, say);
          break;
        case 'POST /contracts/:id/accept':
        case 'POST /contracts/:id/reject':
          checkReview(t, x, ok, say);
          break;
        case 'POST /contracts/:id/cancel':
          checkCancel(t, x, ok, say);
          break;
        case 'POST /contracts/:id/close-bidding':
          if (!ok && x.sawStatus === 'BIDDING' && x.attempts[0]!.sentAt < Date.parse(t.db.bidding_deadline) - 5000) {
            say('close-bidding refused while bidding was open', x, `deadline ${new Date(t.db.bidding_deadline).toISOString()}`);
          }
          break;
        case 'POST /contracts/:id/award': {
          const bidId = (x.body as { bid_id: string }).bid_id;
          // An awarded agent that failed hands the contract to the next bid.
          const reawarded = t.metrics.some((m) => m.outcome === 'failure');
          if (ok && t.db.awarded_bid_id !== bidId && !reawarded) say('2xx award not the award', x, `awarded ${t.db.awarded_bid_id}, asked ${bidId}`);
          if (!ok && t.db.awarded_bid_id === bidId) say('award refused but applied', x, `awarded ${bidId}`);
          break;
        }
      }
    }

    // A 201 means it exists: the owner's first read and any bid that followed see it.
    const firstRead = journal.forContract(id).find((x) => x.route === 'GET /contracts/:id');
    if (firstRead?.final?.status === 404) f.fail('contract not found right after its 201', `${id}: first GET answered 404`, true);
    for (const x of xs.filter((x) => x.route === 'POST /mesh/bid' && x.attempts.some((a) => a.status === 404))) {
      say('bid answered 404 right after the 201', x, 'a try was told the contract does not exist');
    }
  }

  for (const d of opts.drives) {
    const t = truth.contracts.get(d.id);
    const l = d.listedAfterCreate;
    if (t?.db && l && !l.listed && l.listSize < 100 && l.at < Date.parse(t.db.bidding_deadline) - 1000) {
      f.fail('contract missing from /mesh/contracts right after its 201', `${d.id}: not among ${l.listSize} open contracts listed`, true);
    }
    for (const w of d.webhooks) {
      const [first, again] = w.answers;
      const firstOk = first?.status === 200 && first.body?.received === true && !first.body?.unprocessable && !first.body?.duplicate;
      const againOk = again?.status === 200 && again.body?.duplicate === true;
      if (!firstOk || !againOk) f.fail('webhook answered wrongly', `${d.id} ${w.type} ${w.eventId}: ${JSON.stringify(w.answers)}`, true);
    }
  }

  // Probes: the same key again must get the first answer; the same key with another body a 422.
  for (const p of journal.exchanges.filter((x) => x.probeOf !== undefined && x.final)) {
    const orig = bySeq.get(p.probeOf!);
    if (!orig?.final) continue;
    if (p.keyReuse) {
      if (p.final!.status !== 422 || p.final!.body?.error?.code !== 'IDEMPOTENCY_KEY_REUSED') {
        f.fail('key reused with another body not refused with 422', `${p.contractId} ${p.actor} ${p.route}: answered ${p.final!.status} ${p.final!.body?.error?.code ?? ''}`, true);
      }
    } else if (fingerprint(p) !== fingerprint(orig)) {
      f.fail('same key, different answer', `${p.contractId} ${p.actor} ${p.route}: first ${fingerprint(orig)}, again ${fingerprint(p)}`, true);
    }
  }
}

type Say = (check: string, x: Exchange, what: string) => void;
const TAG = (t: ContractTruth) => String(t.db.intent).split(' ').pop()!;

function checkBid(t: ContractTruth, x: Exchange, ok: boolean, agent: Agent, xs: Exchange[], say: Say) {
  const row = t.bids.find((b) => b.agent_id === agent.id);
  const listed = (t.api?.bids ?? []) as { id: string; agent_id: string }[];
  const mine = xs.filter((y) => y.route === x.route && y.actor === x.actor);
  if (ok) {
    const lacks = (t.db.required_capabilities as string[]).filter((c) => !agent.capabilities.includes(c));
    if (lacks.length) say('bid accepted from an agent lacking a capability', x, `lacks ${lacks.join(',')}`);
    const bidId = x.final!.body?.bid?.id;
    if (!row || row.id !== bidId || !listed.some((b) => b.id === bidId)) say('2xx bid not in the contract\'s bids', x, `answered bid ${bidId}, stored ${row?.id ?? 'none'}`);
    const last = mine.filter((y) => is2xx(y.final!.status)).sort((a, b) => a.final!.at - b.final!.at).pop();
    if (last === x && row && Number(row.price_cents) !== (x.body as { price_cents: number }).price_cents) {
      say('last accepted bid price not the recorded price', x, `stored ${row.price_cents}`);
    }
  } else if (row && !mine.some((y) => is2xx(y.final!.status))) {
    say('bid refused but recorded', x, `stored bid ${row.id} at ${row.price_cents}`);
  }
}

function checkDelivery(t: ContractTruth, x: Exchange, ok: boolean, agent: Agent, xs: Exchange[], say: Say) {
  const marker = `chaos ${TAG(t)} by ${agent.name}`;
  const row = t.deliveries.find((d) => d.agent_id === agent.id && d.source === 'agent' && d.output?.summary === marker);
  if (ok) {
    if (agent.wasm) say('manual delivery accepted for a sandbox agent', x, `${agent.name} runs in the sandbox`);
    if (x.sawStatus && TERMINAL.includes(x.sawStatus)) say('delivery accepted after the contract ended', x, `contract was ${x.sawStatus}`);
    if (!row) say('2xx delivery not recorded', x, `no delivery by ${agent.name} stored`);
  } else if (row && !xs.some((y) => y.route === x.route && y.actor === x.actor && is2xx(y.final!.status))) {
    say('delivery refused but recorded', x, `delivery ${row.id} stored`);
  }
}

function checkReview(t: ContractTruth, x: Exchange, ok: boolean, say: Say) {
  const accept = x.route.endsWith('/accept');
  const body = x.body as { comment?: string; reason?: string };
  const text = accept ? body.comment : body.reason;
  const row = t.deliveries.find((d) => d.review_comment === text);
  if (ok) {
    if (!row || row.status !== (accept ? 'accepted' : 'rejected')) say('2xx review not the recorded review', x, `delivery review: ${row ? row.status : 'none with this text'}`);
    if (accept && t.db.status !== 'SETTLED') say('accepted but not SETTLED', x, `ended ${t.db.status}/${t.db.failure_reason ?? ''}`);
  } else {
    if (x.sawStatus === 'DELIVERED') say('review refused while GET showed DELIVERED', x, x.final!.body?.error?.message ?? '');
    if (row) say('review refused but recorded', x, `delivery ${row.id} is ${row.status}`);
  }
}

function checkCancel(t: ContractTruth, x: Exchange, ok: boolean, say: Say) {
  const reason = (x.body as { reason: string }).reason;
  const appliedHere = t.db.status === 'CANCELLED' && (t.db.status_detail ?? '') === reason;
  if (ok) {
    if (t.db.status !== 'CANCELLED') say('2xx cancel but not CANCELLED', x, `ended ${t.db.status}/${t.db.failure_reason ?? ''}`);
    if (x.sawStatus === 'DELIVERED') say('cancel accepted after delivery', x, 'a cancel must be refused once a delivery exists');
  } else if (appliedHere) {
    say('cancel refused but applied', x, 'the contract ended CANCELLED with this reason');
  } else if (['BIDDING', 'AWARDED', 'IN_PROGRESS'].includes(x.sawStatus ?? '') && t.deliveries.length === 0) {
    say('cancel refused before any delivery', x, `ended ${t.db.status}`);
  }
}

function fingerprint(x: Exchange): string {
  const b = x.final?.body ?? {};
  return JSON.stringify([x.final?.status, b.error?.code ?? null, b.id ?? null, b.bid?.id ?? null, b.bid?.revision ?? null, b.delivery?.id ?? null, b.status ?? null]);
}
