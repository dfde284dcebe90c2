import type { Context } from 'koa';
import type { Knex } from 'knex';
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import type { Config } from '../lib/config';
import { HttpError } from './errors';
import { requestHash as hashOf } from '../lib/request-hash';
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
export const IDEMPOTENCY_KEY_PATTERN = /^[\x20-\x7e]{1,255}$/;

/** The request's Idempotency-Key header, if it sent one; a malformed one is a 400. */
export function optionalIdempotencyKey(ctx: Context): string | undefined {
  const key = ctx.headers['idempotency-key'];
  if (key === undefined) return undefined;
  if (typeof key !== 'string' || !IDEMPOTENCY_KEY_PATTERN.test(key)) {
    throw new HttpError('VALIDATION_ERROR', 'Idempotency-Key: 1 to 255 printable ASCII characters, e.g. a UUID', [{ field: 'Idempotency-Key' }]);
  }
  return key;
}

/**
 * Binds the caller's key to this request (its hash) the first time it is seen, or checks that
 * it comes back with the same request (else the 422). A binding older than
 * IDEMPOTENCY_KEY_HOURS is replaced, so an expired key is free again. Resolves to whether this
 * request bound the key (false: it is a retry of the request that did).
 */
export async function claimIdempotencyKey(
  knex: Knex,
  claim: { caller: UpdateCaller; key: string; route: string; requestHash: string },
): Promise<boolean> {
  const row = { caller_kind: claim.caller.kind, caller_id: claim.caller.id, key: claim.key, request_hash: claim.requestHash, route: claim.route };
  const bound = await knex('idempotency_keys')
    .insert(row)
    .onConflict(['caller_kind', 'caller_id', 'key'])
    .merge({ request_hash: row.request_hash, route: row.route, response_status: null, response_body: null, response_secrets: null, created_at: knex.fn.now() })
    .where('idempotency_keys.created_at', '<', knex.raw(`now() - interval '${IDEMPOTENCY_KEY_HOURS} hours'`))
    .returning('request_hash');
  if (bound.length) return true;
  const stored = await knex('idempotency_keys')
    .where({ caller_kind: row.caller_kind, caller_id: row.caller_id, key: row.key })
    .first('request_hash');
  // Deleted between the two statements (it had expired): the key is free, so this request may have it.
  if (!stored) return claimIdempotencyKey(knex, claim);
  assertSameRequest(stored.request_hash, claim.requestHash);
  return false;
}

// ---- Creates: the first answer is kept with the key and replayed ----

/** What a create answers; kept with its key, so a retry gets it again. */
export interface CreateAnswer {
  status: number;
  body: Record<string, unknown>;
  /** Top-level fields of `body` that hold secrets (an API key): kept sealed, never in plain. */
  secrets?: readonly string[];
  /** Runs once what was created has committed, and not on a replay (events about it). */
  afterCommit?: () => Promise<unknown>;
}

export interface CreateRequest {
  caller: UpdateCaller;
  /** Method and route pattern, e.g. 'POST /tasks/:id/execute'; part of what the key is bound to. */
  route: string;
  /** Everything else that makes the request what it is: the parsed body, path ids, a module's SHA-256. */
  request: unknown;
}

/** 409 for a retry that comes while the key's first request still runs (Stripe's idempotency_key_in_use). */
const keyInUse = () =>
  new HttpError(
    'IDEMPOTENCY_KEY_IN_USE',
    'a request with this Idempotency-Key is still in progress; retry after it finishes to get its answer',
    [{ field: 'Idempotency-Key' }],
    { 'Retry-After': '1' },
  );

// Rows past their 24 h are deleted a few at a time by the creates that pass by (SKIP LOCKED:
// two creates never wait on each other for this), so sealed secrets do not outlive their use.
const PURGE_BATCH = 100;
async function purgeExpiredKeys(db: Knex) {
  await db.raw(
    `DELETE FROM idempotency_keys WHERE ctid = ANY(ARRAY(
       SELECT ctid FROM idempotency_keys WHERE created_at < now() - interval '${IDEMPOTENCY_KEY_HOURS} hours'
       LIMIT ${PURGE_BATCH} FOR UPDATE SKIP LOCKED))`,
  );
}

/**
 * Runs a create under the request's Idempotency-Key, Stripe's way, and answers ctx with its
 * result. `create` does its database work with the `db` it is given: with a key that is the
 * transaction that also binds the key and stores the answer, so what was created and its
 * answer commit together or not at all (a crash, a 4xx or a 5xx leaves the key free). A
 * retry with the same key and request gets the stored answer (same status and body,
 * Idempotent-Replayed: true) without running `create`; another request is the 422; a retry
 * while the first still runs is 409 IDEMPOTENCY_KEY_IN_USE (a transaction-scoped advisory lock
 * on the key, so no two ever create at once). Without a key, `create` runs as it is.
 */
export async function idempotentCreate(
  deps: { knex: Knex; config: Pick<Config, 'JWT_SECRET'> },
  ctx: Context,
  req: CreateRequest,
  create: (db: Knex) => Promise<CreateAnswer>,
): Promise<void> {
  const key = optionalIdempotencyKey(ctx);
  let answer: CreateAnswer;
  let replayed = false;
  if (key === undefined) {
    answer = await create(deps.knex);
  } else {
    const hash = hashOf({ route: req.route, request: req.request ?? null });
    const where = { caller_kind: req.caller.kind, caller_id: req.caller.id, key };
    const scope = `${where.caller_kind}/${where.caller_id}/${key}`;
    const sealer = responseSealer(deps.config.JWT_SECRET, scope);
    const outcome = await deps.knex.transaction(async (trx) => {
      const lock = await trx.raw('SELECT pg_try_advisory_xact_lock(hashtextextended(?, 0)) AS locked', [`idempotency/${scope}`]);
      if (!lock.rows[0].locked) throw keyInUse();
      await purgeExpiredKeys(trx);
      if (!(await claimIdempotencyKey(trx, { caller: req.caller, key, route: req.route, requestHash: hash }))) {
        const stored = await trx('idempotency_keys').where(where).first('response_status', 'response_body', 'response_secrets');
        // Bound by a request that keeps no answer here and has the same hash: cannot be one of
        // these routes (the route is hashed), but never create twice under one key.
        if (stored.response_status === null) throw keyInUse();
        const body = { ...stored.response_body, ...(stored.response_secrets && openSecrets(sealer, stored.response_secrets)) };
        return { replayed: true, answer: { status: stored.response_status, body } };
      }
      const created = await create(trx);
      const secrets = Object.fromEntries((created.secrets ?? []).map((f) => [f, created.body[f]]));
      const plain = { ...created.body, ...Object.fromEntries(Object.keys(secrets).map((f) => [f, null])) };
      await trx('idempotency_keys')
        .where(where)
        .update({
          response_status: created.status,
          response_body: JSON.stringify(plain),
          response_secrets: Object.keys(secrets).length ? sealer.seal(secrets) : null,
        });
      return { replayed: false, answer: created };
    });
    answer = outcome.answer;
    replayed = outcome.replayed;
  }
  if (!replayed) await answer.afterCommit?.();
  ctx.status = answer.status;
  if (replayed) ctx.set(REPLAYED_HEADER, 'true');
  ctx.body = answer.body;
}

// Sealed under another JWT_SECRET (it was changed within the 24 h): the first answer cannot be
// shown again, and running the create again would make a second one. Say so; nothing changes.
function openSecrets(sealer: ReturnType<typeof responseSealer>, blob: Buffer) {
  try {
    return sealer.open(blob);
  } catch {
    throw new HttpError('INVALID_STATE', "this Idempotency-Key's first answer held a secret that can no longer be shown (the server's secret changed); issue a new API key for the agent", [
      { field: 'Idempotency-Key' },
    ]);
  }
}

/**
 * AES-256-GCM for an answer's secrets, with a key derived (HKDF) from JWT_SECRET, the server
 * secret Hermes already guards in production; the row's caller and key are the associated
 * data, so a sealed value opens only in the row it was written for.
 */
function responseSealer(serverSecret: string, aad: string) {
  const key = Buffer.from(hkdfSync('sha256', serverSecret, 'hermes', 'idempotency response secrets', 32));
  const ad = Buffer.from(aad);
  return {
    seal(value: Record<string, unknown>): Buffer {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv).setAAD(ad);
      const sealed = Buffer.concat([cipher.update(JSON.stringify(value)), cipher.final()]);
      return Buffer.concat([iv, cipher.getAuthTag(), sealed]);
    },
    open(blob: Buffer): Record<string, unknown> {
      const decipher = createDecipheriv('aes-256-gcm', key, blob.subarray(0, 12)).setAAD(ad);
      decipher.setAuthTag(blob.subarray(12, 28));
      return JSON.parse(Buffer.concat([decipher.update(blob.subarray(28)), decipher.final()]).toString());
    },
  };
}
