import Router from '@koa/router';
import { WithStartWorkflowOperation, WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import type { UpdateDefinition } from '@temporalio/common';
import type { Context } from 'koa';
import { createHash, randomUUID } from 'node:crypto';
import type { Contract } from '../../db/models';
import { acceptanceRow } from '../../domain/acceptance';
import type { ContractInput, ContractState } from '../../domain/contract-types';
import { HermesRewardCents, HermesStatus, HermesUserId } from '../../domain/search-attributes';
import { accept, award, cancel, closeBidding, CONTRACT_WORKFLOW, created, getState, reject, type ContractWorkflow } from '../../workflows/contract-messages';
import { resolveAcceptance } from '../acceptance';
import { currentUserId } from '../auth';
import { contractAtUpdate } from '../contract-at-update';
import { executeContractUpdate, refusedAs, workflowGone } from '../contract-updates';
import { notFound } from '../errors';
import { claimIdempotencyKey, optionalIdempotencyKey, REPLAYED_HEADER, requestHash } from '../idempotency';
import { contractDetailText, findContract, findOwnedContract, loadContractDetail, workflowIdFor } from '../contracts-store';
import type { ApiDeps } from '../deps';
import { afterCursor, pageOf } from '../pagination';
import { contractDetailJson, contractJson, contractStateJson } from '../serializers';
import { naturalUpdateId } from '../update-ids';
import { parse, pathId } from '../validate';
import { loadPreferences } from './preferences';
import { acceptBody, awardBody, cancelBody, createContract, listContracts, rejectBody } from './contract-schemas';

export function contractsRouter(deps: ApiDeps): Router {
  const { config, knex, temporal, auth } = deps;
  const r = new Router({ prefix: '/contracts' });
  r.use(auth.requireUser);

  r.post('/', async (ctx) => {
    const body = parse(createContract, ctx.request.body);
    const userId = currentUserId(ctx);
    // Checked before anything is claimed or started: a refused schema or verifier leaves nothing.
    const acceptance = body.acceptance ? await resolveAcceptance(deps, userId, body.acceptance) : undefined;
    // With an Idempotency-Key the contract is named after the key (and bound to this body, else
    // 422), so a retry reaches the same workflow and its `created` update's first answer.
    const key = optionalIdempotencyKey(ctx);
    const retried = key !== undefined && !(await claimIdempotencyKey(knex, { caller: { kind: 'user', id: userId }, key, route: 'POST /contracts', requestHash: requestHash(body) }));
    const contractId = key === undefined ? randomUUID() : contractIdForKey(userId, key);
    const prefs = await loadPreferences(knex, userId);
    const input: ContractInput = {
      contractId,
      userId,
      intent: body.intent,
      context: body.context,
      requiredCapabilities: body.required_capabilities,
      rewardCents: body.reward_cents,
      currency: body.currency ?? config.CURRENCY,
      awardMode: body.award_mode,
      filters: { ...prefs.default_filters, ...body.filters },
      weights: body.weights ?? prefs.weights,
      biddingWindowSeconds: body.bidding_window_seconds,
      deliveryWindowSeconds: body.delivery_window_seconds,
      reviewWindowSeconds: body.review_window_seconds ?? config.REVIEW_WINDOW_SECONDS,
      awardWindowSeconds: body.award_window_seconds ?? config.MANUAL_AWARD_WINDOW_SECONDS,
      maxReawards: body.max_reawards ?? config.MAX_REAWARDS,
      ...(acceptance && { acceptance }),
    };
    const workflowId = workflowIdFor(contractId);
    // Update-with-start: the `created` update answers once the workflow has written the row,
    // so after this 201 every read, list and bid sees the contract — nobody polls for it.
    // A keyed retry attaches to the running workflow (USE_EXISTING, same update id); once it
    // has closed, REJECT_DUPLICATE keeps a second run from starting and the row answers.
    const deadline = Date.now() + config.API_TEMPORAL_TIMEOUT_SECONDS * 1000;
    const start = () => temporal.workflow.executeUpdateWithStart(created, {
      updateId: 'created',
      startWorkflowOperation: new WithStartWorkflowOperation<ContractWorkflow>(CONTRACT_WORKFLOW, {
        taskQueue: config.TEMPORAL_TASK_QUEUE,
        workflowId,
        workflowIdConflictPolicy: key === undefined ? 'FAIL' : 'USE_EXISTING',
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        args: [input],
        typedSearchAttributes: [
          { key: HermesStatus, value: 'BIDDING' },
          { key: HermesUserId, value: userId },
          { key: HermesRewardCents, value: input.rewardCents },
        ],
        staticSummary: `${(input.rewardCents / 100).toFixed(2)} ${input.currency.toUpperCase()}: ${input.intent.slice(0, 120)}`,
      }),
    });
    const state = await temporal.withDeadline(deadline, start).catch(async (err: unknown) => {
      if (key === undefined || !(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      // The first answer, replayed from the row: a contract is created BIDDING.
      const row = await findContract(deps, contractId);
      ctx.set(REPLAYED_HEADER, 'true');
      return { status: 'BIDDING' as const, biddingDeadline: new Date(row.bidding_deadline).toISOString() };
    });
    ctx.status = 201;
    ctx.set('Location', `/api/v1/contracts/${contractId}`);
    // A keyed retry attached to the first request's update and has its answer.
    if (retried) ctx.set(REPLAYED_HEADER, 'true');
    ctx.body = {
      id: contractId,
      workflow_id: workflowId,
      status: state.status,
      bidding_deadline: state.biddingDeadline,
      reward_cents: input.rewardCents,
      currency: input.currency,
      award_mode: input.awardMode,
      weights: input.weights,
      filters: input.filters,
      acceptance: acceptance ? acceptanceRow(acceptance) : null,
    };
  });

  r.get('/', async (ctx) => {
    const q = parse(listContracts, ctx.query);
    // One statement, as plain rows.
    let query = knex<Contract>('contracts')
      .where({ user_id: currentUserId(ctx) })
      .whereNull('deleted_at')
      .orderBy([{ column: 'created_at', order: 'desc' }, { column: 'id', order: 'desc' }])
      .limit(q.limit + 1);
    if (q.status) query = query.where({ status: q.status });
    query = afterCursor(query, q.cursor);
    const { page, next_cursor } = pageOf(await query, q.limit);
    ctx.body = { data: page.map(contractJson), next_cursor };
  });

  // One statement: the contract, its ownership check, bids, deliveries and runs (api/contracts-store.ts).
  r.get('/:id', async (ctx) => {
    ctx.type = 'json';
    ctx.body = await contractDetailText(deps, pathId(ctx.params.id), currentUserId(ctx));
  });

  // The workflow's live view (the getState query), for a UI that wants everything at once.
  r.get('/:id/state', async (ctx) => {
    const contract = await findOwnedContract(deps, pathId(ctx.params.id), currentUserId(ctx));
    ctx.body = contractStateJson(await temporal.workflow.getHandle(contract.workflow_id).query(getState));
  });

  // The owner drives the contract. Each request is one Workflow Update (api/contract-updates.ts:
  // Idempotency-Key, retries, 503s) and answers as GET /contracts/:id does, as of the update.
  // Nothing is read before it: the workflow's validators know the owner, and a non-owner gets
  // the 404 of a missing contract; the row is read only to tell a missing contract from a closed one.
  async function drive<Args extends [any, ...any[]]>(
    ctx: Context,
    route: string,
    body: unknown,
    def: UpdateDefinition<ContractState, Args>,
    args: (userId: string) => Args,
    naturalId: (contract: Pick<Contract, 'id'>, userId: string, requestHash: string) => string | Promise<string>,
  ): Promise<void> {
    const userId = currentUserId(ctx);
    const contract = { id: pathId(ctx.params.id) };
    const handle = temporal.workflow.getHandle(workflowIdFor(contract.id));
    const state = await executeContractUpdate(deps, ctx, handle, def, args(userId), {
      caller: { kind: 'user', id: userId },
      contractId: contract.id,
      route,
      body,
      naturalId: (hash) => naturalId(contract, userId, hash),
      explain: async (err) => {
        if (refusedAs(err, 'FORBIDDEN')) throw notFound('contract');
        // Closed (409 CONTRACT_CLOSED) when the row says it is the caller's; else the 404.
        if (workflowGone(err)) await findOwnedContract(deps, contract.id, userId);
        throw err;
      },
    });
    ctx.body = contractDetailJson(contractAtUpdate(await loadContractDetail(deps, contract), state));
  }

  // A review's natural id names the delivery it reviews: the latest attempt as Postgres has it,
  // which is where a client learns of a delivery (GET, the delivery:new event).
  const review = async (contract: Pick<Contract, 'id'>, userId: string, hash: string) => {
    const latest = await knex('deliveries').where({ contract_id: contract.id }).max('attempt as attempt').first();
    return naturalUpdateId.review(userId, latest?.attempt ?? 0, hash);
  };

  r.post('/:id/close-bidding', (ctx) =>
    drive(ctx, '/contracts/:id/close-bidding', null, closeBidding, (userId) => [{ userId }], () => naturalUpdateId.closeBidding()),
  );

  r.post('/:id/award', (ctx) => {
    const body = parse(awardBody, ctx.request.body);
    return drive(ctx, '/contracts/:id/award', body, award, (userId) => [{ userId, bidId: body.bid_id }], () => naturalUpdateId.award(body.bid_id));
  });

  r.post('/:id/accept', (ctx) => {
    const body = parse(acceptBody, ctx.request.body);
    return drive(ctx, '/contracts/:id/accept', body, accept, (userId) => [{ userId, ...body }], review);
  });

  r.post('/:id/reject', (ctx) => {
    const body = parse(rejectBody, ctx.request.body);
    return drive(ctx, '/contracts/:id/reject', body, reject, (userId) => [{ userId, reason: body.reason }], review);
  });

  r.post('/:id/cancel', (ctx) => {
    const body = parse(cancelBody, ctx.request.body);
    return drive(ctx, '/contracts/:id/cancel', body, cancel, (userId) => [{ userId, reason: body.reason }], () => naturalUpdateId.cancel());
  });

  return r;
}

/** A keyed create's contract id: a UUID (version 8, "custom") derived from user and key. */
function contractIdForKey(userId: string, key: string): string {
  const h = createHash('sha256').update(`contract\n${userId}\n${key}`).digest('hex');
  const variant = ((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
