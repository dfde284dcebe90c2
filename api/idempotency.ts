import { HttpError } from './errors';

// Idempotency keys, Stripe's rule: the same key with the same request replays the first
// response (same status, same resource, header Idempotent-Replayed: true); the same key with a
// different request is refused with 422 IDEMPOTENCY_KEY_REUSED and changes nothing. A route
// stores requestHash(body) of the parsed body next to the key when it creates what the key
// names, and calls assertSameRequest with the stored hash when the key comes back.
export { canonicalJson, requestHash } from '../lib/request-hash';

export const REPLAYED_HEADER = 'Idempotent-Replayed';

/** Throws the 422 when a repeated key comes with a different request than the first. */
export function assertSameRequest(storedHash: string, hash: string): void {
  if (storedHash !== hash) {
    throw new HttpError(
      'IDEMPOTENCY_KEY_REUSED',
      'Idempotency-Key was already used with a different request; send a new key for a new request',
      [{ field: 'Idempotency-Key' }],
    );
  }
}
