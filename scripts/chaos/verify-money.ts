import { splitPlatformFee } from '../../domain/money';
import type { Truth } from './collect';
import { TERMINAL, type Drive } from './drive';
import type { Findings } from './findings';
import { settings } from './settings';

// Money from the database: one capture per settled contract and none for the others, no hold
// left open, the escrow of every contract back to zero, the payout the price less the fee,
// each Stripe refund or dispute after settlement clawed back once (the payout, from the
// owner's wallet), the ledger balanced, and every wallet's balance its ledger sum. Also one
// success metric per settled contract, and sandbox work done by the sandbox.
const CHECKS = [
  'captures ≠ 1 for a settled contract',
  'capture for a contract not settled',
  'hold left open on an ended contract',
  'escrow not back to zero',
  'settlement ≠ 1 or payout ≠ price − fee',
  'clawback missing, repeated or ≠ payout',
  'ledger not balanced',
  'wallet balance ≠ its ledger sum',
  'success metric ≠ 1 per settled contract',
  'sandbox agent\'s work not from the sandbox',
];

const sumLines = (lines: { account: string; account_id: string | null; amount_cents: number }[], account: string, id?: string | null) =>
  lines.filter((l) => l.account === account && (id === undefined || l.account_id === id)).reduce((s, l) => s + Number(l.amount_cents), 0);

export function verifyMoney(truth: Truth, drives: Drive[], sandboxAgents: Set<string>, f: Findings): void {
  for (const c of CHECKS) f.check(c);
  const reversed = new Map<string, number>();
  for (const d of drives) for (const w of d.webhooks) if (w.type !== 'payment_intent.amount_capturable_updated') reversed.set(d.id, (reversed.get(d.id) ?? 0) + 1);

  for (const [id, t] of truth.contracts) {
    if (!t.db) continue;
    const settled = t.db.status === 'SETTLED';
    const price = Number(t.db.awarded_price_cents ?? 0);
    const captureEvents = t.paymentEvents.filter((e) => e.kind === 'captured').length;
    const captureTxs = t.ledger.filter((x) => x.kind === 'capture').length;
    if (settled && price > 0 && (captureEvents !== 1 || captureTxs !== 1)) {
      f.fail('captures ≠ 1 for a settled contract', `${id}: ${captureEvents} captured payment events, ${captureTxs} capture transactions`);
    }
    if (!settled && (captureEvents > 0 || captureTxs > 0)) {
      f.fail('capture for a contract not settled', `${id} ${t.db.status}/${t.db.failure_reason ?? ''}: ${captureEvents} captured, ${captureTxs} capture transactions`);
    }
    const open = t.payments.filter((p) => p.status === 'authorized' || p.status === 'requires_action');
    if (open.length && TERMINAL.includes(t.db.status)) f.fail('hold left open on an ended contract', `${id} ${t.db.status}: ${open.map((p) => `${p.stripe_payment_intent_id} ${p.status}`).join(', ')}`);
    const escrow = t.ledger.reduce((s, x) => s + sumLines(x.lines, 'user_escrow', id), 0);
    if (escrow !== 0) f.fail('escrow not back to zero', `${id} ${t.db.status}: user_escrow holds ${escrow}`);

    const settlements = t.ledger.filter((x) => x.kind === 'settlement');
    const owner = t.db.awarded_agent_id ? agentOwner(t) : null;
    const payout = settlements.length === 1 ? sumLines(settlements[0]!.lines, 'agent_wallet') : 0;
    if (settled && price > 0) {
      const expected = splitPlatformFee(price, settings.feeBps).payoutCents;
      if (settlements.length !== 1 || payout !== expected) f.fail('settlement ≠ 1 or payout ≠ price − fee', `${id}: ${settlements.length} settlements, payout ${payout}, price ${price} → expected ${expected}`);
    } else if (settlements.length) {
      f.fail('settlement ≠ 1 or payout ≠ price − fee', `${id} ${t.db.status}: ${settlements.length} settlements on a contract not settled`);
    }

    const clawbacks = t.ledger.filter((x) => x.kind === 'clawback');
    const asked = reversed.get(id) ?? 0;
    if (asked > 0 && settled && price > 0) {
      const taken = clawbacks.length === 1 ? -sumLines(clawbacks[0]!.lines, 'agent_wallet', owner) : null;
      if (clawbacks.length !== 1 || taken !== payout) f.fail('clawback missing, repeated or ≠ payout', `${id}: ${clawbacks.length} clawbacks, wallet debited ${taken}, payout was ${payout}`);
    } else if (clawbacks.length) {
      f.fail('clawback missing, repeated or ≠ payout', `${id}: ${clawbacks.length} clawbacks without a refund or dispute sent`);
    }

    const successes = t.metrics.filter((m) => m.outcome === 'success').length;
    if (successes !== (settled ? 1 : 0)) f.fail('success metric ≠ 1 per settled contract', `${id} ${t.db.status}: ${successes} success metrics`);

    // A sandbox agent's deliveries come from its runs, each with its own recorded run.
    const sandboxDeliveries = t.deliveries.filter((d) => sandboxAgents.has(d.agent_id));
    const byHand = sandboxDeliveries.filter((d) => d.source !== 'sandbox');
    if (byHand.length || t.okRuns < sandboxDeliveries.length) {
      f.fail('sandbox agent\'s work not from the sandbox', `${id}: ${sandboxDeliveries.length} deliveries (${byHand.length} by hand), ${t.okRuns} successful runs recorded`);
    }
  }

  if (truth.ledgerTotal !== 0) f.fail('ledger not balanced', `all entries sum to ${truth.ledgerTotal}`);
  for (const u of truth.unbalancedTransactions) f.fail('ledger not balanced', `transaction ${u.transaction_id} sums to ${u.total}`);
  const walletIds = new Set([...truth.wallets.map((w) => w.user_id), ...truth.walletLedger.keys()]);
  for (const userId of walletIds) {
    const cached = truth.wallets.find((w) => w.user_id === userId)?.balance_cents ?? 0;
    const ledger = truth.walletLedger.get(userId) ?? 0;
    if (cached !== ledger) f.fail('wallet balance ≠ its ledger sum', `user ${userId}: balance ${cached}, ledger ${ledger}`);
  }
}

// The settlement's wallet line names the owner; without one there is nothing to claw back from.
function agentOwner(t: Truth['contracts'] extends Map<string, infer C> ? C : never): string | null {
  const settlement = t.ledger.find((x) => x.kind === 'settlement');
  return settlement?.lines.find((l) => l.account === 'agent_wallet')?.account_id ?? null;
}
