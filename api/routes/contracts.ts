import Router from '@koa/router';
import { WithStartWorkflowOperation } from '@temporalio/client';
import { randomUUID } from 'node:crypto';
import type { ContractInput } from '../../domain/contract-types';
import { HermesRewardCents, HermesStatus, HermesUserId } from '../../domain/search-attributes';
import { accept, award, cancel, closeBidding, CONTRACT_WORKFLOW, created, getState, reject, type ContractWorkflow } from '../../workflows/contract-messages';
import { currentUserId } from '../auth';
import { findOwnedContract, workflowIdFor } from '../contracts-store';
import type { ApiDeps } from '../deps';
import { afterCursor, pageOf } from '../pagination';
import { contractJson, taskResultJson } from '../serializers';
import { parse, uuid } from '../validate';
import { loadPreferences } from './preferences';
import { acceptBody, awardBody, cancelBody, createContract, listContracts, rejectBody } from './contract-schemas';

export function contractsRouter(deps: ApiDeps): Router {
  const { config, knex, models, temporal, auth } = deps;
  const r = new Router({ prefix: '/contracts' });
  r.use(auth.requireUser);

  r.post('/', async (ctx) => {
    const body = parse(createContract, ctx.request.body);
    const userId = currentUserId(ctx);
    const prefs = await loadPreferences(knex, userId);
    const contractId = randomUUID();
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
    };
    const workflowId = workflowIdFor(contractId);
    // Update-with-start: the `created` update answers once the workflow has written the row,
    // so after this 201 every read, list and bid sees the contract — nobody polls for it.
    const state = await temporal.workflow.executeUpdateWithStart(created, {
      startWorkflowOperation: new WithStartWorkflowOperation<ContractWorkflow>(CONTRACT_WORKFLOW, {
        taskQueue: config.TEMPORAL_TASK_QUEUE,
        workflowId,
        workflowIdConflictPolicy: 'FAIL',
        args: [input],
        typedSearchAttributes: [
          { key: HermesStatus, value: 'BIDDING' },
          { key: HermesUserId, value: userId },
          { key: HermesRewardCents, value: input.rewardCents },
        ],
        staticSummary: `${(input.rewardCents / 100).toFixed(2)} ${input.currency.toUpperCase()}: ${input.intent.slice(0, 120)}`,
      }),
    });
    ctx.status = 201;
    ctx.set('Location', `/api/v1/contracts/${contractId}`);
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
    };
  });

  r.get('/', async (ctx) => {
    const q = parse(listContracts, ctx.query);
    let query = models.Contract.query()
      .where({ user_id: currentUserId(ctx) })
      .whereNull('deleted_at')
      .orderBy([{ column: 'created_at', order: 'desc' }, { column: 'id', order: 'desc' }])
      .limit(q.limit + 1);
    if (q.status) query = query.where({ status: q.status });
    query = afterCursor(query, q.cursor);
    const { page, next_cursor } = pageOf(await query, q.limit);
    ctx.body = { data: page.map(contractJson), next_cursor };
  });

  r.get('/:id', async (ctx) => {
    const contract = await findOwnedContract(deps, parse(uuid, ctx.params.id), currentUserId(ctx));
    await contract.$fetchGraph('[bids(byCreated), deliveries(byAttempt)]', {}).modifiers({
      byCreated: (b) => b.orderBy('created_at'),
      byAttempt: (b) => b.orderBy('attempt'),
    });
    // Sandbox runs of the awarded agent's binary, one row per attempt.
    const executions = await models.TaskResult.query().where({ contract_id: contract.id }).orderBy('attempt');
    ctx.body = { ...contractJson(contract), executions: executions.map(taskResultJson) };
  });

  // The workflow's live view (the getState query), for a UI that wants everything at once.
  r.get('/:id/state', async (ctx) => {
    const contract = await findOwnedContract(deps, parse(uuid, ctx.params.id), currentUserId(ctx));
    ctx.body = await temporal.workflow.getHandle(contract.workflow_id).query(getState);
  });

  const owned = async (ctx: { params: Record<string, string> } & Parameters<typeof currentUserId>[0]) => {
    const contract = await findOwnedContract(deps, parse(uuid, ctx.params.id), currentUserId(ctx));
    return temporal.workflow.getHandle(contract.workflow_id);
  };

  r.post('/:id/close-bidding', async (ctx) => {
    const handle = await owned(ctx);
    ctx.body = await handle.executeUpdate(closeBidding, { args: [{ userId: currentUserId(ctx) }] });
  });

  r.post('/:id/award', async (ctx) => {
    const body = parse(awardBody, ctx.request.body);
    const handle = await owned(ctx);
    ctx.body = await handle.executeUpdate(award, { args: [{ userId: currentUserId(ctx), bidId: body.bid_id }] });
  });

  r.post('/:id/accept', async (ctx) => {
    const body = parse(acceptBody, ctx.request.body);
    const handle = await owned(ctx);
    ctx.body = await handle.executeUpdate(accept, { args: [{ userId: currentUserId(ctx), ...body }] });
  });

  r.post('/:id/reject', async (ctx) => {
    const body = parse(rejectBody, ctx.request.body);
    const handle = await owned(ctx);
    ctx.body = await handle.executeUpdate(reject, { args: [{ userId: currentUserId(ctx), reason: body.reason }] });
  });

  r.post('/:id/cancel', async (ctx) => {
    const body = parse(cancelBody, ctx.request.body);
    const handle = await owned(ctx);
    ctx.body = await handle.executeUpdate(cancel, { args: [{ userId: currentUserId(ctx), reason: body.reason }] });
  });

  return r;
}
