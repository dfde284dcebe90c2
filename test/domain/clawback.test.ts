import { describe, expect, it } from 'vitest';
import { clawbackMovement } from '../../domain/ledger';

// After settlement Stripe takes the price back; the owner returns min(payout, wallet balance).
describe('clawbackMovement', () => {
  const owner = 'owner-1';
  const lines = (amount: number, paidOut: number, wallet: number) =>
    clawbackMovement(owner, amount, paidOut, wallet).map((l) => [l.account, l.amountCents]);

  it.each([
    ['the wallet holds more than the payout: the payout only', 4_005, 3_604, 10_000, 3_604],
    ['the wallet holds less (some was withdrawn): what is left', 4_005, 3_604, 1_000, 1_000],
    ['the wallet is empty: the platform absorbs it all', 4_005, 3_604, 0, 0],
    ['a partial refund below the payout: the refund only', 500, 3_604, 10_000, 500],
  ])('%s', (_why, amount, paidOut, wallet, fromWallet) => {
    const expected = [['stripe_clearing', amount], ['agent_wallet', -fromWallet], ['platform_revenue', -(amount - fromWallet)]].filter(([, a]) => a !== 0);
    expect(lines(amount, paidOut, wallet)).toEqual(expected);
  });
});
