import { WorkflowNotFoundError, WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure, type UpdateDefinition } from '@temporalio/common';
import type { Context } from 'koa';
import type { ApiDeps } from './deps';
import { HttpError, statusOf } from './errors';
import { claimIdempotencyKey, optionalIdempotencyKey, requestHash } from './idempotency';
import { generation, keyedUpdateId, type UpdateCaller } from './update-ids';

// Every state-changing contract request (close-bidding, award, accept, reject, cancel, bid,
// deliver) runs through here, as one Workflow Update whose id makes a retry of the request
// attach to its first attempt and get that attempt's answer (see api/update-ids.ts).
//
// Nothing is read first: the workflow id derives from the contract id, and the workflow's
// validators decide what the contract row used to (owner, awarded agent, capabilities,
// status). Only a refusal may read: a workflow that is not there is a contract that does not
// exist or one that has closed, and `explain` (the route's) tells them apart from the row.

export interface ContractRequest {
  caller: UpdateCaller;
  contractId: string;
  /** The route's pattern, e.g. '/contracts/:id/accept'. */
  route: string;
  /** The parsed body, as the handler will act on it. */
  body: unknown;
}

/** Whether the workflow refused the update with one of these error types. */
export function refusedAs(err: unknown, ...types: string[]): boolean {
  return err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure && types.includes(err.cause.type ?? '');
}

/** The contract's workflow is not there: never started, or closed (and maybe past retention). */
export const workflowGone = (err: unknown) => err instanceof WorkflowNotFoundError;

// The answers a route gave before it called the workflow, from its read of the contract row:
// a request so refused bound no Idempotency-Key, and still binds none.
const PRE_READ_CODES = ['NOT_FOUND', 'FORBIDDEN', 'CAPABILITY_MISMATCH', 'NOT_AWARDED_AGENT'];
const refusedBeforeUpdate = (err: unknown) => (err instanceof HttpError && PRE_READ_CODES.includes(err.code)) || refusedAs(err, ...PRE_READ_CODES);

/** What identifies a request for its Idempotency-Key: method, route, contract and body. */
export function contractRequestHash(ctx: Context, req: ContractRequest): string {
  return requestHash({ method: ctx.method, route: req.route, contract_id: req.contractId, body: req.body ?? null });
}

// A workflow refusal that changed nothing and asks for a retry (a write failed past its bound).
const refusedForNow = (err: unknown) =>
  err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure && err.cause.type === 'UNAVAILABLE';

// How many fresh tries one key gets after such refusals; past them its answer stays the 503.
const MAX_GENERATIONS = 5;

/**
 * Runs the update under the request's Idempotency-Key (bound to this request in Postgres
 * first, so reusing it for another request is the 422) or, without one, under the request's
 * natural id. Temporal's answer comes within API_TEMPORAL_TIMEOUT_SECONDS or the request is
 * a 503 (api/errors.ts) that the client retries with the same key to get the answer.
 */
export async function executeContractUpdate<Ret, Args extends [any, ...any[]]>(
  deps: Pick<ApiDeps, 'knex' | 'temporal' | 'config' | 'metrics'>,
  ctx: Context,
  handle: WorkflowHandle,
  def: UpdateDefinition<Ret, Args>,
  args: Args,
  req: ContractRequest & {
    naturalId: (requestHash: string) => string | Promise<string>;
    /** Turns a refusal into the route's answer (it throws); may read the contract row. */
    explain?: (err: unknown) => Promise<never>;
  },
): Promise<Ret> {
  const key = optionalIdempotencyKey(ctx);
  const hash = contractRequestHash(ctx, req);
  let updateId: string;
  let bound = false;
  if (key === undefined) {
    updateId = await req.naturalId(hash);
  } else {
    bound = await claimIdempotencyKey(deps.knex, { caller: req.caller, key, route: `${ctx.method} ${req.route}`, requestHash: hash });
    updateId = keyedUpdateId(req.caller, key, hash);
  }
  try {
    return await runUpdate(deps, handle, def, args, updateId);
  } catch (err) {
    const answer = req.explain ? await req.explain(err).then(() => err, (e: unknown) => e) : err;
    if (bound && refusedBeforeUpdate(answer)) {
      await deps.knex('idempotency_keys').where({ caller_kind: req.caller.kind, caller_id: req.caller.id, key, request_hash: hash }).delete();
    }
    throw answer;
  }
}

async function runUpdate<Ret, Args extends [any, ...any[]]>(
  deps: Pick<ApiDeps, 'temporal' | 'config' | 'metrics'>,
  handle: WorkflowHandle,
  def: UpdateDefinition<Ret, Args>,
  args: Args,
  updateId: string,
): Promise<Ret> {
  const deadline = Date.now() + deps.config.API_TEMPORAL_TIMEOUT_SECONDS * 1000;
  // The latency a client sees from Temporal, fresh tries included (the update, not the request:
  // the key's claim in Postgres is not in it).
  const timer = deps.metrics.updates.duration.startTimer({ update: def.name });
  try {
    const answer = await deps.temporal.withDeadline(deadline, async () => {
      for (let n = 0; ; n++) {
        try {
          return await handle.executeUpdate(def, { args, updateId: generation(updateId, n) });
        } catch (err) {
          if (!refusedForNow(err) || n + 1 >= MAX_GENERATIONS) throw err;
        }
      }
    });
    timer({ result: 'accepted' });
    return answer;
  } catch (err) {
    const status = statusOf(err);
    timer({ result: status === 503 ? 'unavailable' : status < 500 ? 'rejected' : 'error' });
    throw err;
  }
}
