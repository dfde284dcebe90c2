import { splitPlatformFee } from './money';
import type { LedgerAccount } from './statuses';

// The double-entry movements of Hermes' money, as pure functions. Every movement is a set of
// lines in integer cents that sums to zero. Accounts:
//   stripe_clearing           money outside Hermes (cards charged, refunds and payouts sent)
//   user_escrow  / contract   a user's captured payment, held for one contract
//   agent_wallet / owner      what an agent owner has earned and not yet withdrawn
//   platform_revenue          Hermes' fees
// Authorising a card moves no money, so holds and voids are payment history, not ledger.

export interface LedgerLine {
  account: LedgerAccount;
  accountId: string | null;
  amountCents: number;
}

export function assertBalanced(lines: LedgerLine[]): void {
  if (lines.length < 2) throw new RangeError('a movement needs at least two lines');
  for (const l of lines) {
    if (!Number.isSafeInteger(l.amountCents) || l.amountCents === 0) throw new RangeError(`invalid line amount ${l.amountCents}`);
  }
  const sum = lines.reduce((s, l) => s + l.amountCents, 0);
  if (sum !== 0) throw new RangeError(`movement does not balance (sum ${sum})`);
}

const line = (account: LedgerAccount, accountId: string | null, amountCents: number): LedgerLine => ({ account, accountId, amountCents });
const nonZero = (lines: LedgerLine[]) => lines.filter((l) => l.amountCents !== 0);

/** The card is charged: the money is now held for the contract. */
export function captureMovement(contractId: string, amountCents: number): LedgerLine[] {
  return [line('stripe_clearing', null, -amountCents), line('user_escrow', contractId, amountCents)];
}

/** Settlement: the escrow pays the agent owner the price less the platform fee. */
export function settlementMovement(contractId: string, ownerId: string, priceCents: number, feeBps: number): LedgerLine[] {
  const { feeCents, payoutCents } = splitPlatformFee(priceCents, feeBps);
  return nonZero([
    line('user_escrow', contractId, -priceCents),
    line('agent_wallet', ownerId, payoutCents),
    line('platform_revenue', null, feeCents),
  ]);
}

/** A refund before settlement: the held money goes back to the card. */
export function refundMovement(contractId: string, amountCents: number): LedgerLine[] {
  return [line('user_escrow', contractId, -amountCents), line('stripe_clearing', null, amountCents)];
}

/**
 * Money taken back after settlement (a refund or a lost dispute): the owner's wallet gives
 * back what this contract paid into it, as far as its balance goes; the platform absorbs the
 * rest (its own fee, and any payout already withdrawn), so no wallet goes negative and no
 * owner repays money they never received.
 */
export function clawbackMovement(ownerId: string, amountCents: number, paidOutCents: number, walletAvailableCents: number): LedgerLine[] {
  const fromWallet = Math.max(0, Math.min(amountCents, paidOutCents, walletAvailableCents));
  return nonZero([
    line('stripe_clearing', null, amountCents),
    line('agent_wallet', ownerId, -fromWallet),
    line('platform_revenue', null, -(amountCents - fromWallet)),
  ]);
}

/** A withdrawal leaves the wallet for the owner's connected account. */
export function withdrawalMovement(ownerId: string, amountCents: number): LedgerLine[] {
  return [line('agent_wallet', ownerId, -amountCents), line('stripe_clearing', null, amountCents)];
}

/** A withdrawal Stripe refused comes back to the wallet. */
export function withdrawalReversalMovement(ownerId: string, amountCents: number): LedgerLine[] {
  return [line('stripe_clearing', null, -amountCents), line('agent_wallet', ownerId, amountCents)];
}

/**
 * Which contracts' earnings a withdrawal draws on, oldest first, so each Connect transfer can
 * carry its contract's transfer group.
 */
export function allocateWithdrawal(
  amountCents: number,
  earnings: { contractId: string; remainingCents: number }[],
): { contractId: string; amountCents: number }[] {
  const out: { contractId: string; amountCents: number }[] = [];
  let left = amountCents;
  for (const e of earnings) {
    if (left === 0) break;
    const take = Math.min(left, Math.max(0, e.remainingCents));
    if (take > 0) out.push({ contractId: e.contractId, amountCents: take });
    left -= take;
  }
  if (left > 0) throw new RangeError(`earnings cover only ${amountCents - left} of ${amountCents} cents`);
  return out;
}
