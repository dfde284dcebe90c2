import Router from '@koa/router';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import type { Knex } from 'knex';
import { z } from 'zod';
import { executionTimeoutMs, type ExecutionPlan } from '../../domain/execution';
import { taskWorkflow } from '../../workflows/task';
import { currentUserId } from '../auth';
import type { ApiDeps } from '../deps';
import { HttpError, notFound } from '../errors';
import { idempotentCreate } from '../idempotency';
import { referenceNotFound } from '../references';
import { taskJson, taskResultJson } from '../serializers';
import { parse, pathId, uuid } from '../validate';

export const createTask = z.strictObject({
  agent_id: uuid,
  input: z.unknown().refine((v) => v !== undefined, 'required'),
  // The run's deadline is clamped to SANDBOX_MAX_TIMEOUT_SECONDS; this bound keeps the column's integer.
  timeout_seconds: z.number().int().positive().max(86_400).optional(),
});

const DEFAULT_TASK_TIMEOUT_SECONDS = 30;

export const taskWorkflowId = (taskId: string) => `task-${taskId}`;

// Direct tasks: run an agent's binary on your input without a contract. Only the owner of
// a task sees it; someone else's task is a 404, so ids reveal nothing.
export function tasksRouter({ knex, models, temporal, auth, config }: ApiDeps): Router {
  const r = new Router({ prefix: '/tasks' });
  r.use(auth.requireUser);

  async function ownedTask(id: string, userId: string, db: Knex = knex) {
    const task = await models.Task.query(db).findById(id).where({ owner_id: userId });
    if (!task) throw notFound('task');
    return task;
  }

  // Any user may run any active agent (the marketplace is public). An agent that is deleted,
  // or inactive/suspended and not the caller's, is a 404 naming agent_id, the same as an id
  // that does not exist; the owner of an inactive agent is told why (403 AGENT_INACTIVE).
  // Idempotency-Key: a retry gets the first 201 and the same task (api/idempotency.ts).
  r.post('/', async (ctx) => {
    const body = parse(createTask, ctx.request.body);
    const userId = currentUserId(ctx);
    await idempotentCreate({ knex, config }, ctx, { caller: { kind: 'user', id: userId }, route: 'POST /tasks', request: body }, async (db) => {
      const agent = await models.Agent.query(db).findById(body.agent_id).whereNull('deleted_at');
      if (!agent || (agent.status !== 'active' && agent.owner_id !== userId)) throw referenceNotFound('agent', 'agent_id');
      if (agent.status !== 'active') throw new HttpError('AGENT_INACTIVE', `agent is ${agent.status}`, [{ field: 'agent_id' }]);
      if (!agent.binary_hash) {
        throw new HttpError('NO_BINARY', 'this agent has no WASM binary to run; upload one first', [{ field: 'agent_id' }]);
      }
      const task = await models.Task.query(db).insertAndFetch({
        owner_id: userId,
        agent_id: agent.id,
        input: JSON.stringify(body.input) as unknown,
        ...(body.timeout_seconds && { timeout_seconds: body.timeout_seconds }),
      });
      return { status: 201, body: taskJson(task) };
    });
  });

  r.get('/', async (ctx) => {
    const rows = await models.Task.query().where({ owner_id: currentUserId(ctx) }).orderBy('created_at', 'desc').limit(50);
    ctx.body = { data: rows.map(taskJson) };
  });

  r.get('/:id', async (ctx) => {
    ctx.body = taskJson(await ownedTask(pathId(ctx.params.id), currentUserId(ctx)));
  });

  // Starts the run and answers at once; poll /results (or watch the workflow in the UI). A run
  // happens once per task anyway (a second execute is 409); with an Idempotency-Key a retry
  // gets the first 202 instead of that 409.
  r.post('/:id/execute', async (ctx) => {
    const taskId = pathId(ctx.params.id);
    const userId = currentUserId(ctx);
    const route = 'POST /tasks/:id/execute';
    await idempotentCreate({ knex, config }, ctx, { caller: { kind: 'user', id: userId }, route, request: { task_id: taskId } }, (db) => execute(db, taskId, userId));
  });

  async function execute(db: Knex, taskId: string, userId: string) {
    const task = await ownedTask(taskId, userId, db);
    if (task.status !== 'pending') throw new HttpError('INVALID_STATE', `task is already ${task.status}`);
    const agent = await models.Agent.query(db).findById(task.agent_id).whereNull('deleted_at');
    if (!agent?.binary_hash || !agent.binary_url) throw new HttpError('NO_BINARY', 'the agent no longer has a binary');
    const plan: ExecutionPlan = {
      agentId: agent.id,
      binaryHash: agent.binary_hash,
      binaryUrl: agent.binary_url,
      timeoutMs: executionTimeoutMs(task.timeout_seconds ?? DEFAULT_TASK_TIMEOUT_SECONDS, {
        minSeconds: config.SANDBOX_MIN_TIMEOUT_SECONDS,
        maxSeconds: config.SANDBOX_MAX_TIMEOUT_SECONDS,
      }),
      taskQueue: config.SANDBOX_TASK_QUEUE,
    };
    const workflowId = taskWorkflowId(task.id);
    // Pin the binary first: the results stay tied to the version that ran.
    const claimed = await db('tasks')
      .where({ id: task.id, status: 'pending' })
      .whereNull('workflow_id')
      .update({ workflow_id: workflowId, binary_hash: plan.binaryHash });
    if (claimed === 0) throw new HttpError('INVALID_STATE', 'task is already executing');
    try {
      await temporal.workflow.start(taskWorkflow, {
        taskQueue: config.TEMPORAL_TASK_QUEUE,
        workflowId,
        args: [{ taskId: task.id, plan, input: task.input }],
        staticSummary: `Task ${task.id} · agent ${agent.name}`,
      });
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) throw new HttpError('INVALID_STATE', 'task is already executing');
      // Not in a transaction (no key): take the claim back. In one, the rollback does.
      if (!db.isTransaction) await db('tasks').where({ id: task.id }).update({ workflow_id: null, binary_hash: null });
      throw err;
    }
    return { status: 202, body: { ...taskJson(await ownedTask(task.id, task.owner_id, db)), results_url: `/api/v1/tasks/${task.id}/results` } };
  }

  // While running: the status. When done: the final attempt's exit code, output, duration
  // and fuel, with every attempt listed.
  r.get('/:id/results', async (ctx) => {
    const task = await ownedTask(pathId(ctx.params.id), currentUserId(ctx));
    const attempts = await models.TaskResult.query().where({ task_id: task.id }).orderBy('attempt');
    const done = task.status === 'succeeded' || task.status === 'failed';
    const last = done ? attempts[attempts.length - 1] : undefined;
    ctx.body = {
      task_id: task.id,
      status: task.status,
      ...(last ? taskResultJson(last) : {}),
      started_at: task.started_at && new Date(task.started_at).toISOString(),
      finished_at: task.finished_at && new Date(task.finished_at).toISOString(),
      attempts: attempts.map(taskResultJson),
    };
  });

  return r;
}
