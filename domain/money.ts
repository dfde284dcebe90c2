// Money is integer minor units (cents) everywhere. Fees are basis points of the price,
// rounded half up to a whole cent; the agent receives exactly the remainder, so
// fee + payout always equals the price.
export function splitPlatformFee(priceCents: number, feeBps: number): { feeCents: number; payoutCents: number } {
  if (!Number.isSafeInteger(priceCents) || priceCents < 0) throw new RangeError(`invalid amount: ${priceCents}`);
  if (!Number.isInteger(feeBps) || feeBps < 0 || feeBps > 10_000) throw new RangeError(`invalid fee: ${feeBps} bps`);
  const feeCents = Math.floor((priceCents * feeBps + 5_000) / 10_000);
  return { feeCents, payoutCents: priceCents - feeCents };
}
