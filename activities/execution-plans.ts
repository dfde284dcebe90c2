import type { Knex } from 'knex';
import { executionTimeoutMs, type ExecutionPlan } from '../domain/execution';
import type { Config } from '../lib/config';

export type PlanConfig = Pick<Config, 'SANDBOX_TASK_QUEUE' | 'SANDBOX_MIN_TIMEOUT_SECONDS' | 'SANDBOX_MAX_TIMEOUT_SECONDS'>;

/**
 * Whether an awarded agent runs in the sandbox, which binary, and for how long. Decided in the
 * award's transaction (recordAward), so the answer is recorded in the workflow's history with
 * the award and replays identically.
 */
export async function planExecution(db: Knex | Knex.Transaction, config: PlanConfig, agentId: string, etaSeconds: number): Promise<ExecutionPlan | null> {
  const agent = await db('agents').where({ id: agentId }).first('binary_hash', 'binary_url');
  if (!agent?.binary_hash || !agent.binary_url) return null;
  return {
    agentId,
    binaryHash: agent.binary_hash,
    binaryUrl: agent.binary_url,
    timeoutMs: executionTimeoutMs(etaSeconds, {
      minSeconds: config.SANDBOX_MIN_TIMEOUT_SECONDS,
      maxSeconds: config.SANDBOX_MAX_TIMEOUT_SECONDS,
    }),
    taskQueue: config.SANDBOX_TASK_QUEUE,
  };
}
