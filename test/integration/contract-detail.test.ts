import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSandboxActivities } from '../../activities/execute-agent';
import type { Models } from '../../db/models';
import type { ExecuteAgentRequest } from '../../domain/execution';
import { contractDetailJson, type ContractDetail } from '../../api/serializers';
import { eventually } from '../support/eventually';
import { postContract, registerAgent, registerUser, startPlatform, uploadAgent, waitForContract, type Api, type Platform } from '../support/platform';
import { fixture, loadSandbox, withNonce } from '../support/wasm';

// GET /contracts/:id is one SQL statement (api/contracts-store.ts). Its answer must be exactly
// what the earlier code gave: the contract row read by objection, then its bids, deliveries
// and sandbox runs in three more queries, through the same serializers. That earlier path is
// kept here, verbatim, as the reference. A contract with sandbox runs goes through the
// serializers and is compared byte for byte; one without has its JSON built by Postgres and is
// compared value for value (Postgres spaces its JSON), at every stage of its life: bids (one
// replaced), acceptance checks, a rejected delivery, a re-award, an accepted one, settlement.
let platform: Platform;
let api: Api;
beforeAll(async () => {
  platform = await startPlatform();
  api = platform.api;
});
afterAll(async () => platform?.close());

/** The multi-query read GET /contracts/:id made before it was one statement. */
async function detailAsBefore(models: Models, id: string): Promise<ContractDetail> {
  const contract = await models.Contract.query().findById(id).whereNull('deleted_at');
  if (!contract) throw new Error(`no contract ${id}`);
  const [bids, deliveries, executions] = await Promise.all([
    models.Bid.query().where({ contract_id: contract.id }).orderBy('created_at'),
    models.Delivery.query().where({ contract_id: contract.id }).orderBy('attempt'),
    models.TaskResult.query().where({ contract_id: contract.id }).orderBy(['round', 'attempt']),
  ]);
  return { contract, bids, deliveries, executions };
}

const rawGet = async (path: string, token: string) => {
  const res = await fetch(`${platform.base}${path}`, { headers: { Authorization: `Bearer ${token}` } });
  return { status: res.status, text: await res.text() };
};

describe('GET /contracts/:id in one statement', () => {
  it('answers byte for byte what the multi-query read answered, for a re-awarded, validated, settled contract with runs', async () => {
    const user = await registerUser(api);
    const owner = await registerUser(api, 'Owner');
    const [first, second, third] = [
      await registerAgent(api, owner.token, { name: 'first' }),
      await registerAgent(api, owner.token, { name: 'second' }),
      await registerAgent(api, owner.token, { name: 'third' }),
    ];
    const id = await postContract(api, user.token, {
      required_capabilities: ['pdf'],
      context: { files: 40, nested: { unicode: 'é ✓ 𝄞', empty: [] } },
      max_reawards: 1,
      acceptance: { output_schema: { type: 'string', minLength: 1 } },
    });
    const bid = (agent: { apiKey: string }, price: number, extra: Record<string, unknown> = {}) =>
      api('POST', '/api/v1/mesh/bid', { apiKey: agent.apiKey, body: { contract_id: id, price_cents: price, eta_seconds: 600, confidence: 0.9, ...extra } });
    expect((await bid(first, 2_000, { message: 'fast and cheap' })).status).toBe(201);
    expect((await bid(second, 3_000)).status).toBe(201);
    expect((await bid(third, 4_900, { confidence: 0.55 })).status).toBe(201);
    expect((await bid(third, 4_500, { confidence: 0.6, replace: true })).status).toBe(200);
    expect((await api('POST', `/api/v1/contracts/${id}/close-bidding`, { token: user.token })).status).toBe(200);
    await waitForContract(api, user.token, id, 'IN_PROGRESS');

    // Sandbox runs on this contract: round 1 (text output), round 2 twice (binary output, retried).
    const echo = await uploadAgent(platform.base, owner.token, withNonce(fixture('echo')), { name: 'echo', capabilities: 'pdf' });
    const binary = await uploadAgent(platform.base, owner.token, withNonce(fixture('binary-output')), { name: 'bytes', capabilities: 'pdf' });
    expect([echo.status, binary.status]).toEqual([201, 201]);
    const activities = createSandboxActivities({ knex: platform.deps.knex, sandbox: loadSandbox(), binaries: platform.deps.binaries, config: platform.config });
    const run = (agent: typeof echo, round: number, attempt: number) => {
      const req: ExecuteAgentRequest = {
        agentId: agent.body.agent.id,
        binaryHash: agent.body.binary.sha256,
        binaryUrl: agent.body.binary.url,
        timeoutMs: 10_000,
        taskQueue: platform.config.SANDBOX_TASK_QUEUE,
        contractId: id,
        input: { round, text: 'ünïcödé' },
        round,
      };
      return new MockActivityEnvironment({ attempt }).run(activities.executeAgent, req);
    };
    await run(echo, 1, 1);
    await run(binary, 2, 1);
    await run(binary, 2, 2);

    expect((await api('POST', '/api/v1/mesh/deliver', { apiKey: first.apiKey, body: { contract_id: id, output: 'draft' } })).status).toBe(201);
    await waitForContract(api, user.token, id, 'DELIVERED');
    expect((await api('POST', `/api/v1/contracts/${id}/reject`, { token: user.token, body: { reason: 'not what I asked' } })).status).toBe(200);
    await eventually(async () => {
      const { body } = await api('GET', `/api/v1/contracts/${id}`, { token: user.token });
      expect([body.status, body.award?.agent_id]).toEqual(['IN_PROGRESS', second.id]);
    });
    expect((await api('POST', '/api/v1/mesh/deliver', { apiKey: second.apiKey, body: { contract_id: id, output: 'the summary' } })).status).toBe(201);
    await waitForContract(api, user.token, id, 'DELIVERED');
    expect((await api('POST', `/api/v1/contracts/${id}/accept`, { token: user.token, body: { rating: 4, comment: 'good' } })).status).toBe(200);
    // SETTLED shows before the workflow's last writes (closing, trust); compare once it has ended.
    await platform.deps.temporal.workflow.getHandle(`contract-${id}`).result();

    const res = await rawGet(`/api/v1/contracts/${id}`, user.token);
    expect(res.status).toBe(200);
    // Byte for byte: the same fields, in the same order, with the same values.
    expect(res.text).toBe(JSON.stringify(contractDetailJson(await detailAsBefore(platform.deps.models, id))));

    // And the contract it shows is the one that happened.
    const body = JSON.parse(res.text);
    expect(body).toMatchObject({ status: 'SETTLED', rating: 4, award: { agent_id: second.id, price_cents: 3_000 } });
    expect(body.award.detail.ranking).toHaveLength(3);
    expect(body.bids.map((b: { agent_id: string; status: string; revision: number }) => [b.agent_id, b.status, b.revision])).toEqual([
      [first.id, 'lost', 1],
      [second.id, 'awarded', 1],
      [third.id, 'lost', 2],
    ]);
    expect(body.deliveries.map((d: { attempt: number; status: string; agent_id: string; validation: { status: string } | null; is_validated: boolean }) => [d.attempt, d.status, d.agent_id, d.validation?.status, d.is_validated])).toEqual([
      [1, 'rejected', first.id, 'passed', true],
      [2, 'accepted', second.id, 'passed', true],
    ]);
    expect(body.executions.map((e: { round: number; attempt: number; stdout_encoding: string }) => [e.round, e.attempt, e.stdout_encoding])).toEqual([
      [1, 1, 'utf8'],
      [2, 1, 'base64'],
      [2, 2, 'base64'],
    ]);
    expect(body.executions[0].stdout).toBe('{"round":1,"text":"ünïcödé"}');
  });

  /** GET's answer, as a value, is what the serializers make of the multi-query read. */
  async function expectAsSerializers(id: string, token: string) {
    const res = await rawGet(`/api/v1/contracts/${id}`, token);
    expect(res.status).toBe(200);
    const reference = JSON.parse(JSON.stringify(contractDetailJson(await detailAsBefore(platform.deps.models, id))));
    expect(JSON.parse(res.text)).toStrictEqual(reference);
    return reference;
  }

  it('answers, with the JSON Postgres builds, what the serializers answer at every stage of a re-awarded, checked, settled contract', async () => {
    const user = await registerUser(api);
    const owner = await registerUser(api, 'Owner');
    const [first, second] = [await registerAgent(api, owner.token, { name: 'first' }), await registerAgent(api, owner.token, { name: 'second' })];
    const id = await postContract(api, user.token, {
      required_capabilities: ['pdf'],
      context: { files: 40, nested: { unicode: 'é ✓ 𝄞', empty: [], big: 12345678901234, small: 0.000001 } },
      max_reawards: 1,
      acceptance: { output_schema: { type: 'object', required: ['summary'] } },
      filters: { min_confidence: 0.5 },
    });
    await expectAsSerializers(id, user.token);
    const bid = (agent: { apiKey: string }, price: number, extra: Record<string, unknown> = {}) =>
      api('POST', '/api/v1/mesh/bid', { apiKey: agent.apiKey, body: { contract_id: id, price_cents: price, eta_seconds: 600, confidence: 0.9, ...extra } });
    expect((await bid(first, 2_000, { message: 'fast — and “cheap”\n' })).status).toBe(201);
    expect((await bid(second, 3_100, { confidence: 0.333 })).status).toBe(201);
    expect((await bid(second, 3_000, { confidence: 0.6, replace: true })).status).toBe(200);
    await expectAsSerializers(id, user.token);
    expect((await api('POST', `/api/v1/contracts/${id}/close-bidding`, { token: user.token })).status).toBe(200);
    await waitForContract(api, user.token, id, 'IN_PROGRESS');
    expect((await expectAsSerializers(id, user.token)).award.detail.ranking).toHaveLength(2);

    // A delivery that fails its checks (rejected, re-awarded); compared where the contract waits.
    expect((await api('POST', '/api/v1/mesh/deliver', { apiKey: first.apiKey, body: { contract_id: id, output: { draft: true } } })).status).toBe(201);
    await eventually(async () => expect((await api('GET', `/api/v1/contracts/${id}`, { token: user.token })).body.award?.agent_id).toBe(second.id));
    await waitForContract(api, user.token, id, 'IN_PROGRESS');
    await expectAsSerializers(id, user.token);
    expect((await api('POST', '/api/v1/mesh/deliver', { apiKey: second.apiKey, body: { contract_id: id, output: { summary: 'the summary', n: 1.5 } } })).status).toBe(201);
    await eventually(async () => expect((await api('GET', `/api/v1/contracts/${id}`, { token: user.token })).body.deliveries[1].validation.status).toBe('passed'));
    await expectAsSerializers(id, user.token);
    expect((await api('POST', `/api/v1/contracts/${id}/accept`, { token: user.token, body: { rating: 4, comment: 'good' } })).status).toBe(200);
    await platform.deps.temporal.workflow.getHandle(`contract-${id}`).result();
    const settled = await expectAsSerializers(id, user.token);
    expect(settled).toMatchObject({ status: 'SETTLED', rating: 4, executions: [] });
    expect(settled.deliveries.map((d: { status: string; validation: { status: string } }) => [d.status, d.validation.status])).toEqual([
      ['rejected', 'failed'],
      ['accepted', 'passed'],
    ]);
  });

  it('answers a contract with no bids, deliveries or runs as before, and someone else’s as the 404 of a missing one', async () => {
    const user = await registerUser(api);
    const stranger = await registerUser(api, 'Stranger');
    const id = await postContract(api, user.token);
    expect(await expectAsSerializers(id, user.token)).toMatchObject({ bids: [], deliveries: [], executions: [], award: null });

    const foreign = await rawGet(`/api/v1/contracts/${id}`, stranger.token);
    const missing = await rawGet(`/api/v1/contracts/00000000-0000-4000-8000-000000000000`, stranger.token);
    expect([foreign.status, missing.status]).toEqual([404, 404]);
    expect(foreign.text).toBe(missing.text);
  });
});
