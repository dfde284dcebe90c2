import type { Context } from 'koa';
import type { Knex } from 'knex';
import { HttpError } from './errors';
import type { UpdateCaller } from './update-ids';

// Idempotency keys, Stripe's rule: the same key with the same request replays the first
// response (same status, same resource, header Idempotent-Replayed: true); the same key with a
// different request is refused with 422 IDEMPOTENCY_KEY_REUSED and changes nothing. A route
// stores requestHash(body) of the parsed body next to the key when it creates what the key
// names, and calls assertSameRequest with the stored hash when the key comes back.
export { canonicalJson, requestHash } from '../lib/request-hash';

export const REPLAYED_HEADER = 'Idempotent-Replayed';

/** How long a key stays bound to its first request; after that it may be used afresh. */
export const IDEMPOTENCY_KEY_HOURS = 24;

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

// Printable ASCII, as HTTP header values reliably carry it; a UUID is the usual choice.
const KEY = /^[\x20-\x7e]{1,255}$/;

/** The request's Idempotency-Key header, if it sent one; a malformed one is a 400. */
export function optionalIdempotencyKey(ctx: Context): string | undefined {
  const key = ctx.headers['idempotency-key'];
  if (key === undefined) return undefined;
  if (typeof key !== 'string' || !KEY.test(key)) {
    throw new HttpError('VALIDATION_ERROR', 'Idempotency-Key: 1 to 255 printable ASCII characters, e.g. a UUID', [{ field: 'Idempotency-Key' }]);
  }
  return key;
}

/**
 * Binds the caller's key to this request (its hash) the first time it is seen, or checks that
 * it comes back with the same request (else the 422). A binding older than
 * IDEMPOTENCY_KEY_HOURS is replaced, so an expired key is free again.
 */
export async function claimIdempotencyKey(
  knex: Knex,
  claim: { caller: UpdateCaller; key: string; route: string; requestHash: string },
): Promise<void> {
  const row = { caller_kind: claim.caller.kind, caller_id: claim.caller.id, key: claim.key, request_hash: claim.requestHash, route: claim.route };
  const bound = await knex('idempotency_keys')
    .insert(row)
    .onConflict(['caller_kind', 'caller_id', 'key'])
    .merge({ request_hash: row.request_hash, route: row.route, response_status: null, response_body: null, created_at: knex.fn.now() })
    .where('idempotency_keys.created_at', '<', knex.raw(`now() - interval '${IDEMPOTENCY_KEY_HOURS} hours'`))
    .returning('request_hash');
  if (bound.length) return;
  const stored = await knex('idempotency_keys')
    .where({ caller_kind: row.caller_kind, caller_id: row.caller_id, key: row.key })
    .first('request_hash');
  // Deleted between the two statements (it had expired): the key is free, so this request may have it.
  if (!stored) return claimIdempotencyKey(knex, claim);
  assertSameRequest(stored.request_hash, claim.requestHash);
}
