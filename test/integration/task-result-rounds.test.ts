import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSandboxActivities } from '../../activities/execute-agent';
import type { ExecuteAgentRequest } from '../../domain/execution';
import { postContract, registerUser, startPlatform, uploadAgent, type Api, type Platform } from '../support/platform';
import { fixture, loadSandbox, withNonce } from '../support/wasm';

// The sandbox activity's run rows for a re-awarded contract: each award round's agent keeps its
// own task_results row, keyed by round and activity attempt, and the contract's executions show
// them all. Real activity code, sandbox, S3 and Postgres; Temporal's activity environment
// supplies the attempt number a worker would.
let platform: Platform;
let api: Api;
beforeAll(async () => {
  platform = await startPlatform();
  api = platform.api;
});
afterAll(async () => platform?.close());

/** An agent whose binary echoes its stdin, and where the sandbox finds it. */
async function echoAgent(token: string) {
  const res = await uploadAgent(platform.base, token, withNonce(fixture('echo')), { name: 'echo', capabilities: 'text', price_cents: '100' });
  expect(res.status).toBe(201);
  return { agentId: res.body.agent.id as string, binaryHash: res.body.binary.sha256 as string, binaryUrl: res.body.binary.url as string };
}

describe('a re-awarded contract’s sandbox runs', () => {
  it('keep one row per award round and attempt, shown in the contract’s executions', async () => {
    const user = await registerUser(api);
    const contractId = await postContract(api, user.token);
    const [first, second] = [await echoAgent(user.token), await echoAgent(user.token)];
    const activities = createSandboxActivities({ knex: platform.deps.knex, sandbox: loadSandbox(), binaries: platform.deps.binaries, config: platform.config });
    const run = (agent: typeof first, round: number | undefined, attempt = 1) => {
      const req: ExecuteAgentRequest = { ...agent, timeoutMs: 10_000, taskQueue: platform.config.SANDBOX_TASK_QUEUE, contractId, input: { round: round ?? 1 }, round };
      return new MockActivityEnvironment({ attempt }).run(activities.executeAgent, req);
    };

    // Round 1 as a workflow that does not pass the round runs it; round 2 is the re-award.
    await run(first, undefined);
    await run(second, 2);
    await run(second, 2); // the same round and attempt again: still one row
    await run(second, 2, 2); // a retry of round 2's activity: its own row

    const { body } = await api('GET', `/api/v1/contracts/${contractId}`, { token: user.token });
    expect(body.executions.map((e: Record<string, unknown>) => [e.round, e.attempt, e.outcome, e.stdout])).toEqual([
      [1, 1, 'ok', '{"round":1}'],
      [2, 1, 'ok', '{"round":2}'],
      [2, 2, 'ok', '{"round":2}'],
    ]);
    const rows = await platform.deps.knex('task_results').where({ contract_id: contractId }).orderBy(['round', 'attempt']).select('agent_id', 'round', 'attempt');
    expect(rows).toEqual([
      { agent_id: first.agentId, round: 1, attempt: 1 },
      { agent_id: second.agentId, round: 2, attempt: 1 },
      { agent_id: second.agentId, round: 2, attempt: 2 },
    ]);
  });
});
