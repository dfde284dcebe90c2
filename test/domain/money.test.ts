import { describe, expect, it } from 'vitest';
import { splitPlatformFee } from '../../domain/money';

describe('splitPlatformFee', () => {
  it.each([
    [10_000, 1_000, 1_000, 9_000],
    [5, 1_000, 1, 4], // 0.5 cent rounds half up
    [4, 1_000, 0, 4],
    [0, 1_000, 0, 0],
    [999, 0, 0, 999],
    [999, 10_000, 999, 0],
  ])('%i cents at %i bps → fee %i, payout %i', (price, bps, fee, payout) => {
    expect(splitPlatformFee(price, bps)).toEqual({ feeCents: fee, payoutCents: payout });
  });

  it('always sums back to the price', () => {
    for (let price = 0; price < 5_000; price += 7) {
      const { feeCents, payoutCents } = splitPlatformFee(price, 1_234);
      expect(feeCents + payoutCents).toBe(price);
    }
  });

  it('refuses fractional or negative money', () => {
    expect(() => splitPlatformFee(10.5, 100)).toThrow(RangeError);
    expect(() => splitPlatformFee(-1, 100)).toThrow(RangeError);
    expect(() => splitPlatformFee(100, 10_001)).toThrow(RangeError);
  });
});
