import fc from 'fast-check';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recomputeTrustScores } from '../../db/trust-sql';
import { computeTrust, type MetricRow } from '../../domain/trust';
import { ensureTrustSchedule, TRUST_SCHEDULE_ID } from '../../workers/trust-schedule';
import { eventually } from '../support/eventually';
import { postContract, registerAgent, registerUser, startPlatform, waitForContract, type Api, type Platform } from '../support/platform';

let platform: Platform;
let api: Api;
beforeAll(async () => {
  platform = await startPlatform();
  api = platform.api;
});
afterAll(async () => platform?.close());

const DAY = 86_400_000;

describe('the set-based recompute', () => {
  it('equals the per-agent computation on thousands of random metric rows', async () => {
    const knex = platform.deps.knex;
    const now = new Date();
    const [owner] = await knex('users').insert({ email: `trust-${randomUUID()}@example.com`, password_hash: 'x', name: 'owner' }).returning('id');
    const metricArb = fc.record({
      outcome: fc.constantFrom<'success' | 'failure'>('success', 'success', 'success', 'failure'),
      promisedEtaSeconds: fc.option(fc.integer({ min: 1, max: 5_000 }), { freq: 5 }),
      actualSeconds: fc.option(fc.integer({ min: 0, max: 12_000 }), { freq: 5 }),
      rating: fc.option(fc.integer({ min: 1, max: 5 }), { freq: 2 }),
      priceCents: fc.integer({ min: 0, max: 200_000 }),
      executionMs: fc.option(fc.integer({ min: 0, max: 60_000 }), { freq: 2 }),
      ageMs: fc.integer({ min: 0, max: 60 * DAY }),
    });
    const agentArb = fc.record({
      ageDays: fc.double({ min: 0.01, max: 90, noNaN: true }),
      seenAgoDays: fc.option(fc.double({ min: 0, max: 45, noNaN: true })),
      metrics: fc.array(metricArb, { maxLength: 50, size: 'max' }),
    });
    const agents = fc.sample(agentArb, { numRuns: 250, seed: 20261122 });
    const expected = new Map<string, ReturnType<typeof computeTrust>>();
    let rows = 0;
    for (const a of agents) {
      const createdAt = new Date(now.getTime() - a.ageDays * DAY);
      const lastSeenAt = a.seenAgoDays === null ? null : new Date(now.getTime() - a.seenAgoDays * DAY);
      const [agent] = await knex('agents').insert({ owner_id: owner.id, name: 'random', created_at: createdAt, last_seen_at: lastSeenAt }).returning('id');
      const metrics: MetricRow[] = a.metrics.map((m) => ({ ...m, outcome: m.outcome, recordedAt: new Date(now.getTime() - m.ageMs) }));
      if (metrics.length) {
        await knex('agent_metrics').insert(
          metrics.map((m) => ({
            agent_id: agent.id,
            outcome: m.outcome,
            promised_eta_seconds: m.promisedEtaSeconds,
            actual_seconds: m.actualSeconds,
            rating: m.rating,
            price_cents: m.priceCents,
            execution_ms: m.executionMs,
            recorded_at: m.recordedAt,
          })),
        );
      }
      rows += metrics.length;
      expected.set(agent.id, computeTrust({ metrics, createdAt, lastSeenAt, now }));
    }
    expect(rows).toBeGreaterThan(2_000);

    const ids = [...expected.keys()];
    expect(await recomputeTrustScores(knex, { agentIds: ids, now })).toBe(ids.length);
    const cached = await knex('agent_trust_scores').whereIn('agent_id', ids);
    for (const row of cached) {
      const want = expected.get(row.agent_id)!;
      const got = {
        trust_score: Number(row.trust_score),
        grade: row.grade,
        breakdown: {
          success_rate: Number(row.success_rate),
          latency_score: Number(row.latency_score),
          rating_score: Number(row.rating_score),
          uptime_score: Number(row.uptime_score),
          consistency_score: Number(row.consistency_score),
        },
        badges: row.badges,
        total_contracts: row.total_contracts,
        successful_contracts: row.successful_contracts,
        total_earnings: Number(row.total_earnings_cents),
        avg_execution_time: row.avg_execution_seconds === null ? null : Number(row.avg_execution_seconds),
      };
      expect(got, `agent ${row.agent_id}`).toEqual({
        trust_score: want.trust_score,
        grade: want.grade,
        breakdown: want.breakdown,
        badges: want.badges,
        total_contracts: want.stats.total_contracts,
        successful_contracts: want.stats.successful_contracts,
        total_earnings: want.stats.total_earnings,
        avg_execution_time: want.stats.avg_execution_time,
      });
    }
    expect(cached).toHaveLength(ids.length);
  });
});

describe('trust through the API', () => {
  it('a settled contract moves its agent’s score and grade; the reputation explains it', async () => {
    const user = await registerUser(api);
    const owner = await registerUser(api, 'Owner');
    const agent = await registerAgent(api, owner.token);
    const before = await api('GET', `/api/v1/marketplace/agents/${agent.id}/trust-score`);
    expect(before.body).toEqual({ agent_id: agent.id, trust_score: 0.5, grade: 'D' });

    const id = await postContract(api, user.token, { required_capabilities: ['pdf'] });
    await api('POST', '/api/v1/mesh/bid', { apiKey: agent.apiKey, body: { contract_id: id, price_cents: 4_000, eta_seconds: 600, confidence: 0.9 } });
    await api('POST', `/api/v1/contracts/${id}/close-bidding`, { token: user.token });
    await waitForContract(api, user.token, id, 'IN_PROGRESS');
    await api('POST', '/api/v1/mesh/deliver', { apiKey: agent.apiKey, body: { contract_id: id, output: 'done' } });
    await waitForContract(api, user.token, id, 'DELIVERED');
    await api('POST', `/api/v1/contracts/${id}/accept`, { token: user.token, body: { rating: 5 } });
    await platform.deps.temporal.workflow.getHandle(`contract-${id}`).result();

    // success 1, on time 1, rated 5 → 1, active today of a 1-day-old agent → 1, one timing → 0.5
    const after = await api('GET', `/api/v1/marketplace/agents/${agent.id}/trust-score`);
    expect(after.body).toEqual({ agent_id: agent.id, trust_score: 0.95, grade: 'A+' });
    const rep = await api('GET', `/api/v1/marketplace/agents/${agent.id}/reputation`);
    expect(rep.body).toEqual({
      trust_score: 0.95,
      grade: 'A+',
      breakdown: { success_rate: 1, latency_score: 1, rating_score: 1, uptime_score: 1, consistency_score: 0.5 },
      badges: ['Elite', 'Lightning Fast'],
      stats: { total_contracts: 1, successful_contracts: 1, success_percentage: 100, avg_execution_time: expect.any(Number), total_earnings: 4_000 },
    });
    expect((await api('GET', `/api/v1/marketplace/agents/${randomUUID()}/reputation`)).status).toBe(404);
  });

  it('auto-award uses the real trust score and shows why the winner won', async () => {
    const knex = platform.deps.knex;
    const user = await registerUser(api);
    const owner = await registerUser(api, 'Owner');
    const trusted = await registerAgent(api, owner.token, { name: 'trusted' });
    const unknown = await registerAgent(api, owner.token, { name: 'unknown' });
    await knex('agent_metrics').insert(
      Array.from({ length: 5 }, () => ({ agent_id: trusted.id, outcome: 'success', promised_eta_seconds: 100, actual_seconds: 50, rating: 5, price_cents: 100 })),
    );
    await recomputeTrustScores(knex, { agentIds: [trusted.id] });
    const id = await postContract(api, user.token, { required_capabilities: ['pdf'], weights: { price: 0, performance: 0, speed: 0, reputation: 10_000 } });
    // The unknown agent bids first and cheaper; reputation is all that counts here.
    await api('POST', '/api/v1/mesh/bid', { apiKey: unknown.apiKey, body: { contract_id: id, price_cents: 1_000, eta_seconds: 60, confidence: 0.9 } });
    await api('POST', '/api/v1/mesh/bid', { apiKey: trusted.apiKey, body: { contract_id: id, price_cents: 4_000, eta_seconds: 600, confidence: 0.5 } });
    await api('POST', `/api/v1/contracts/${id}/close-bidding`, { token: user.token });
    const contract = await waitForContract(api, user.token, id, 'IN_PROGRESS');
    expect(contract.award).toMatchObject({ agent_id: trusted.id });
    const byAgent = Object.fromEntries(contract.bids.map((b: { agent_id: string; score: unknown }) => [b.agent_id, b.score]));
    expect(byAgent[trusted.id]).toMatchObject({ rank: 1, factors: { reputation: expect.any(Number) } });
    expect(byAgent[trusted.id].factors.reputation).toBeGreaterThan(0.9);
    expect(byAgent[unknown.id]).toMatchObject({ rank: 2, factors: { reputation: 0.5 } });
  });

  it('the leaderboard ranks by each metric, with ranks, names and grades, up to the limit', async () => {
    for (const metric of ['trust_score', 'total_earnings', 'total_contracts', 'success_rate'] as const) {
      const res = await api('GET', `/api/v1/marketplace/leaderboard?metric=${metric}&limit=5`);
      expect(res.status).toBe(200);
      expect(res.body.metric).toBe(metric);
      const data = res.body.data as Record<string, unknown>[];
      expect(data.length).toBeLessThanOrEqual(5);
      expect(data.length).toBeGreaterThan(0);
      expect(data.map((d) => d.rank)).toEqual(data.map((_, i) => i + 1));
      const values = data.map((d) => d[metric] as number);
      expect([...values].sort((a, b) => b - a)).toEqual(values);
      for (const d of data) expect(d).toEqual(expect.objectContaining({ agent_id: expect.any(String), name: expect.any(String), grade: expect.any(String) }));
    }
    expect((await api('GET', '/api/v1/marketplace/leaderboard?metric=vibes')).status).toBe(400);
    expect((await api('GET', '/api/v1/marketplace/leaderboard?limit=1000')).status).toBe(400);
  });
});

describe('the nightly recompute', () => {
  it('is a Schedule registered idempotently, whose run recomputes every agent', async () => {
    const client = platform.deps.temporal;
    const config = { ...platform.config, TRUST_RECOMPUTE_CRON: '0 3 * * *' };
    expect(['created', 'updated']).toContain(await ensureTrustSchedule(client, config));
    expect(await ensureTrustSchedule(client, config)).toBe('updated');
    const handle = client.schedule.getHandle(TRUST_SCHEDULE_ID);
    const description = await handle.describe();
    expect(description.spec.calendars?.length).toBe(1); // the server stores the cron as a calendar
    expect(description.action).toMatchObject({ type: 'startWorkflow', workflowType: 'trustRecomputeWorkflow', taskQueue: platform.config.TEMPORAL_TASK_QUEUE });

    const before = await platform.deps.knex('agent_trust_scores').max({ at: 'computed_at' }).first();
    await handle.trigger();
    await eventually(async () => expect((await handle.describe()).info.recentActions.length).toBeGreaterThan(0), { timeout: 20_000, interval: 200 });
    const run = (await handle.describe()).info.recentActions[0]!.action.workflow;
    const result = await client.workflow.getHandle(run.workflowId, run.firstExecutionRunId).result();
    const counted = await platform.deps.knex('agents').whereNull('deleted_at').count({ n: '*' }).first();
    expect(result.agents).toBeGreaterThanOrEqual(Number(counted?.n) - 50); // agents other test files add meanwhile
    const after = await platform.deps.knex('agent_trust_scores').max({ at: 'computed_at' }).first();
    expect(new Date(after!.at).getTime()).toBeGreaterThan(new Date(before?.at ?? 0).getTime());
    await handle.delete();
  });
});
