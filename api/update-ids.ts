import { createHash } from 'node:crypto';

// Workflow Update ids for the contract's state-changing requests. Temporal runs one update per
// id and workflow: a request sent again with an id it has seen attaches to that update, still
// running or done, and gets its answer. So the id is what makes a retry a retry, and two
// requests share one only when a retry of either must get the other's answer.

export interface UpdateCaller {
  kind: 'user' | 'agent';
  id: string;
}

// Hashes keep ids short and free of whatever a client put in its key.
const digest = (...parts: string[]) => createHash('sha256').update(parts.join('\n')).digest('hex').slice(0, 40);

/**
 * With an Idempotency-Key: the caller's key (keys are scoped by caller, so two callers never
 * share one) and the request's hash, so that once the key's 24 h record has expired, the same
 * key with another request is a new update rather than the old answer.
 */
export function keyedUpdateId(caller: UpdateCaller, key: string, requestHash: string): string {
  return `key/${caller.kind}-${caller.id}/${digest(key, requestHash)}`;
}

// Without a key, the id is what the request itself says, so a plain retry of the same request
// still finds the first attempt.
export const naturalUpdateId = {
  /** Contract (the workflow) + agent + request: the same bid sent again is the same bid. */
  bid: (agentId: string, requestHash: string) => `bid/${agentId}/${digest(requestHash)}`,
  /** Contract + agent + request: one delivery per award, and the agent is awarded once. */
  deliver: (agentId: string, requestHash: string) => `deliver/${agentId}/${digest(requestHash)}`,
  /**
   * Contract + owner + delivery attempt + request: one review per delivery, and after a
   * re-award the next delivery's review is a new update even with the same words.
   */
  review: (userId: string, deliveryAttempt: number, requestHash: string) => `review/${userId}/${deliveryAttempt}/${digest(requestHash)}`,
  /** Contract: bidding closes once, so any second close is a retry of the first. */
  closeBidding: () => 'close-bidding',
  /** Contract: a contract is cancelled once, whatever reason a second request gives. */
  cancel: () => 'cancel',
  /** Contract + bid: a manual award happens once; the same bid again is a retry. */
  award: (bidId: string) => `award/${bidId}`,
};

/**
 * The workflow refused an accepted update as UNAVAILABLE (its write failed past its bound and
 * was undone): nothing changed, and Temporal keeps that answer for the id. A retry moves on to
 * the id's next generation, so it is tried afresh instead of being told UNAVAILABLE forever.
 */
export const generation = (updateId: string, n: number) => (n === 0 ? updateId : `${updateId}#${n}`);
