// The one capability rule of the market: an agent may hear of, list and bid on a contract
// only when it holds every capability the contract requires (a contract requiring none is
// open to every agent). Announcement (api/realtime.ts), bidding (the contract workflow's bid
// validator, workflows/contract-process.ts, with the capabilities api/routes/mesh.ts sends) and the
// listing's SQL (`required_capabilities <@ agent capabilities`) all apply this rule.

/** The required capabilities the agent lacks, in the contract's order; empty when it may take part. */
export function missingCapabilities(held: readonly string[], required: readonly string[]): string[] {
  const have = new Set(held);
  return required.filter((c) => !have.has(c));
}

export function holdsAllCapabilities(held: readonly string[], required: readonly string[]): boolean {
  return missingCapabilities(held, required).length === 0;
}
