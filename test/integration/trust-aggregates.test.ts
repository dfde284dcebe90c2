import fc from 'fast-check';
import { randomUUID } from 'node:crypto';
import knexFactory, { type Knex } from 'knex';
import pg from 'pg';
import { execFile } from 'node:child_process';
import * as aggregatesMigration from '../../migrations/20261201002000_create_agent_trust_aggregates';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMetricActivities, type AgentMetricInput } from '../../activities/metrics';
import { createKnex } from '../../db/knex';
import { rebuildTrustAggregates, recomputeTrustScores, toMetricRow } from '../../db/trust-sql';
import { computeTrust } from '../../domain/trust';
import { loadConfig } from '../../lib/config';

// Trust from running aggregates (agent_trust_aggregates, kept by a trigger in the transaction
// that inserts the metric row): on random histories — many agents, random outcomes, times,
// ratings and days, written through recordAgentMetric (retried, sometimes concurrently with
// itself) and as past rows one by one or in multi-agent batches (retried too) — the
// incrementally kept aggregates equal a set-based rebuild from agent_metrics exactly (integers
// and numeric sums alike), the one-agent re-score from them equals the set-based full
// recompute exactly, and both equal domain/trust.ts over the rows.
const config = loadConfig();
const knex = createKnex(config);
const metrics = createMetricActivities({ knex });
const DAY = 86_400_000;

let owner: string;
async function newContracts(n: number): Promise<string[]> {
  const rows = await knex.raw(
    `INSERT INTO contracts (user_id, workflow_id, intent, reward_cents, weights, bidding_deadline, delivery_window_seconds, review_window_seconds)
     SELECT ?, 'trust-agg-' || gen_random_uuid(), 'trust aggregates', 1000000, '{}', now(), 60, 60 FROM generate_series(1, ?) RETURNING id`,
    [owner, n],
  );
  return rows.rows.map((r: { id: string }) => r.id);
}
const dbNow = async () => new Date((await knex.raw('SELECT now() AS now')).rows[0].now);

beforeAll(async () => {
  [{ id: owner }] = await knex('users').insert({ email: `trust-agg-${randomUUID()}@example.com`, password_hash: 'x', name: 'owner' }).returning('id');
});
afterAll(async () => knex.destroy());

/** What `f` sees in a transaction that is then rolled back. */
async function rolledBack<T>(f: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
  const trx = await knex.transaction();
  try {
    return await f(trx);
  } finally {
    await trx.rollback();
  }
}

/** The aggregate columns, numerics as text (exact), recent days as of `now`'s window. */
async function aggregates(db: Knex | Knex.Transaction, ids: string[], now: Date) {
  const rows = await db.raw(
    `SELECT agent_id, outcomes, successes, latency_count, latency_sum::text, rating_count, rating_sum, duration_count,
       duration_sum_ms, duration_sumsq_ms::text, earnings_cents,
       ARRAY(SELECT d FROM unnest(recent_days) d WHERE d > :now::timestamptz - interval '30 days' AND d <= :now::timestamptz ORDER BY d)::text AS window_days
     FROM agent_trust_aggregates WHERE agent_id = ANY(:ids::uuid[]) ORDER BY agent_id`,
    { ids, now: now.toISOString() },
  );
  return rows.rows as Record<string, unknown>[];
}

async function scores(ids: string[]) {
  const rows = await knex('agent_trust_scores').whereIn('agent_id', ids).orderBy('agent_id');
  return rows.map(({ computed_at: _, ...r }) => r);
}

const metricArb = fc.record({
  outcome: fc.constantFrom<'success' | 'failure'>('success', 'success', 'success', 'failure'),
  eta: fc.option(fc.integer({ min: 1, max: 5_000 }), { freq: 6 }),
  actual: fc.option(fc.integer({ min: 0, max: 12_000 }), { freq: 5 }),
  rating: fc.option(fc.integer({ min: 1, max: 5 }), { freq: 2 }),
  priceCents: fc.integer({ min: 0, max: 200_000 }),
  executionMs: fc.option(fc.integer({ min: 0, max: 60_000 }), { freq: 2 }),
  // Mostly spread over 60 days, some right at the 30-day window's edge, some today.
  ageMs: fc.oneof(fc.integer({ min: 0, max: 60 * DAY }), fc.integer({ min: 30 * DAY - 3_600_000, max: 30 * DAY + 3_600_000 }), fc.integer({ min: 0, max: DAY })),
  // How it is written: through the activity (recorded now), or as a past row alone or in a batch.
  via: fc.constantFrom('activity', 'activity', 'row', 'batch', 'batch'),
  retries: fc.integer({ min: 0, max: 2 }),
  concurrentRetry: fc.boolean(),
});
type Metric = typeof metricArb extends fc.Arbitrary<infer T> ? T : never;
const agentArb = fc.record({
  ageDays: fc.double({ min: 0.01, max: 90, noNaN: true }),
  seenAgoDays: fc.option(fc.double({ min: 0, max: 45, noNaN: true })),
  metrics: fc.array(metricArb, { maxLength: 40, size: 'max' }),
});

describe('incremental trust aggregates', () => {
  it('equal the set-based rebuild and recompute on random histories, with retries', async () => {
    const start = await dbNow();
    const agents = fc.sample(agentArb, { numRuns: 80, seed: 20261201 });
    const ids: string[] = [];
    type Op = { agentId: string; contractId: string; m: Metric };
    const ops: Op[] = [];
    const contracts = await newContracts(agents.reduce((n, a) => n + a.metrics.length, 0));
    for (const a of agents) {
      const [agent] = await knex('agents')
        .insert({
          owner_id: owner,
          name: 'random',
          created_at: new Date(start.getTime() - a.ageDays * DAY),
          last_seen_at: a.seenAgoDays === null ? null : new Date(start.getTime() - a.seenAgoDays * DAY),
        })
        .returning('id');
      ids.push(agent.id);
      for (const m of a.metrics) ops.push({ agentId: agent.id, contractId: contracts.pop()!, m });
    }
    expect(ops.length).toBeGreaterThan(1_000);

    const row = (o: Op) => ({
      agent_id: o.agentId,
      contract_id: o.contractId,
      outcome: o.m.outcome,
      promised_eta_seconds: o.m.eta,
      actual_seconds: o.m.actual,
      rating: o.m.rating,
      price_cents: o.m.outcome === 'success' ? o.m.priceCents : 0,
      execution_ms: o.m.executionMs,
      recorded_at: new Date(start.getTime() - o.m.ageMs),
    });
    const input = (o: Op): AgentMetricInput => ({
      agentId: o.agentId,
      contractId: o.contractId,
      outcome: o.m.outcome,
      failureReason: o.m.outcome === 'failure' ? 'rejected' : null,
      promisedEtaSeconds: o.m.eta ?? 600,
      actualSeconds: o.m.actual,
      rating: o.m.rating,
      priceCents: o.m.priceCents,
      ...(o.m.executionMs === null ? {} : { executionMs: o.m.executionMs }),
    });
    const insertRows = (os: Op[]) => knex('agent_metrics').insert(os.map(row)).onConflict(['contract_id', 'agent_id']).ignore();

    // Interleaved across agents, several writers at once: concurrent settlements of one agent
    // serialise on its aggregates row.
    const shuffled = fc.sample(fc.shuffledSubarray(ops, { minLength: ops.length, maxLength: ops.length }), { numRuns: 1, seed: 7 })[0]!;
    const batches: Op[][] = [];
    const work: (() => Promise<unknown>)[] = [];
    for (const o of shuffled) {
      for (let attempt = 0; attempt <= o.m.retries; attempt++) {
        if (o.m.via === 'activity') {
          work.push(() =>
            o.m.concurrentRetry && attempt === 0
              ? Promise.all([metrics.recordAgentMetric(input(o)), metrics.recordAgentMetric(input(o))])
              : metrics.recordAgentMetric(input(o)),
          );
        } else if (o.m.via === 'row') {
          work.push(() => insertRows([o]));
        } else {
          // A batch of up to 25 rows of different agents in one statement, its retry the same batch.
          if (attempt === 0) {
            const last = batches.at(-1);
            if (last && last.length < 25) last.push(o);
            else batches.push([o]);
          }
        }
      }
    }
    for (const b of batches) for (let i = 0; i < 2; i++) work.push(() => insertRows(b));
    const order = fc.sample(fc.shuffledSubarray(work, { minLength: work.length, maxLength: work.length }), { numRuns: 1, seed: 11 })[0]!;
    let next = 0;
    await Promise.all(Array.from({ length: 4 }, async () => { while (next < order.length) await order[next++]!(); }));

    const now = await dbNow();
    // Integer and numeric aggregates exact; nothing counted twice.
    const incremental = await aggregates(knex, ids, now);
    const counted = await knex('agent_metrics').whereIn('agent_id', ids).count({ n: '*' }).first();
    expect(Number(counted!.n)).toBe(ops.length);
    expect(incremental.reduce((n, r) => n + Number(r.outcomes), 0)).toBe(ops.length);
    const rebuilt = await rolledBack(async (trx) => {
      await rebuildTrustAggregates(trx, { agentIds: ids, now });
      return aggregates(trx, ids, now);
    });
    expect(incremental).toEqual(rebuilt);

    // One agent at a time (the settlement's statement) against everyone at once after a rebuild.
    for (const id of ids) await recomputeTrustScores(knex, { agentIds: [id], now });
    const oneByOne = await scores(ids);
    await rebuildTrustAggregates(knex, { agentIds: ids, now });
    expect(await recomputeTrustScores(knex, { agentIds: ids, now })).toBe(ids.length);
    const setBased = await scores(ids);
    expect(oneByOne).toEqual(setBased);
    expect(setBased).toHaveLength(ids.length);

    // And both are domain/trust.ts over the agent's rows.
    for (const s of setBased) {
      const agent = await knex('agents').where({ id: s.agent_id }).first('created_at', 'last_seen_at');
      const rows = await knex('agent_metrics').where({ agent_id: s.agent_id });
      const want = computeTrust({
        metrics: rows.map(toMetricRow),
        createdAt: new Date(agent.created_at),
        lastSeenAt: agent.last_seen_at ? new Date(agent.last_seen_at) : null,
        now,
      });
      expect(
        {
          trust_score: Number(s.trust_score),
          grade: s.grade,
          breakdown: {
            success_rate: Number(s.success_rate),
            latency_score: Number(s.latency_score),
            rating_score: Number(s.rating_score),
            uptime_score: Number(s.uptime_score),
            consistency_score: Number(s.consistency_score),
          },
          badges: s.badges,
          total_contracts: s.total_contracts,
          successful_contracts: s.successful_contracts,
          total_earnings: Number(s.total_earnings_cents),
          avg_execution_time: s.avg_execution_seconds === null ? null : Number(s.avg_execution_seconds),
        },
        `agent ${s.agent_id}`,
      ).toEqual({
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
  });

  it('a retried settlement counts once: metric, counters, rating and score', async () => {
    const [agent] = await knex('agents').insert({ owner_id: owner, name: 'retried' }).returning('id');
    const [c1, c2, c3] = await newContracts(3);
    const settle = (contractId: string, rating: number, actualSeconds: number): AgentMetricInput => ({
      agentId: agent.id,
      contractId,
      outcome: 'success',
      failureReason: null,
      promisedEtaSeconds: 100,
      actualSeconds,
      rating,
      priceCents: 4_000,
    });
    await Promise.all([metrics.recordAgentMetric(settle(c1!, 5, 50)), metrics.recordAgentMetric(settle(c1!, 5, 50))]);
    await metrics.recordAgentMetric(settle(c1!, 5, 50));
    await metrics.recordAgentMetric(settle(c2!, 2, 150));
    await metrics.recordAgentMetric(settle(c2!, 2, 150));
    await metrics.recordAgentMetric({ ...settle(c3!, 1, 0), outcome: 'failure', failureReason: 'rejected', actualSeconds: null });

    expect(await knex('agents').where({ id: agent.id }).first('tasks_completed', 'rating')).toEqual({ tasks_completed: 2, rating: 3.5 });
    expect(await knex('agent_trust_aggregates').where({ agent_id: agent.id }).first()).toMatchObject({
      outcomes: 3,
      successes: 2,
      latency_count: 2,
      latency_sum: 1.5, // on time, then 50% late
      rating_count: 3,
      rating_sum: 8,
      duration_count: 2,
      duration_sum_ms: 200_000,
      earnings_cents: 8_000,
    });
    // success 2/3, latency 0.75, rating (8/3 − 1)/4, uptime 1 (active today, 1 day old),
    // consistency: 50 s and 150 s → mean 100, sd 50 → 1/1.5
    expect(await knex('agent_trust_scores').where({ agent_id: agent.id }).first()).toMatchObject({
      success_rate: 0.6667,
      latency_score: 0.75,
      rating_score: 0.4167,
      uptime_score: 1,
      consistency_score: 0.6667,
      trust_score: 0.6667,
      grade: 'C+',
      total_contracts: 3,
      successful_contracts: 2,
      total_earnings_cents: 8_000,
      avg_execution_seconds: 100,
    });
  });

  it('an operator’s UPDATE or DELETE of metric rows re-folds the agents it touched', async () => {
    const [a] = await knex('agents').insert({ owner_id: owner, name: 'repaired a' }).returning('id');
    const [b] = await knex('agents').insert({ owner_id: owner, name: 'repaired b' }).returning('id');
    const rows = Array.from({ length: 6 }, (_, i) => ({
      agent_id: i % 2 ? a.id : b.id,
      outcome: i % 3 ? 'success' : 'failure',
      promised_eta_seconds: 100,
      actual_seconds: 40 * i,
      rating: 1 + (i % 5),
      price_cents: 100 * i,
      recorded_at: new Date(Date.now() - i * DAY),
    }));
    const inserted = await knex('agent_metrics').insert(rows).returning('id');
    const now = await dbNow();
    const same = async () => {
      const before = await aggregates(knex, [a.id, b.id], now);
      const after = await rolledBack(async (trx) => {
        await rebuildTrustAggregates(trx, { agentIds: [a.id, b.id], now });
        return aggregates(trx, [a.id, b.id], now);
      });
      expect(before).toEqual(after);
      return before;
    };
    await same();
    await knex('agent_metrics').where({ id: inserted[0]!.id }).update({ outcome: 'success', rating: 5, agent_id: a.id });
    await same();
    await knex('agent_metrics').whereIn('agent_id', [b.id]).delete();
    expect((await same()).map((r) => r.agent_id)).toEqual([a.id]);
  });
});

describe('the aggregates migration', () => {
  it('backfills the aggregates of an existing history', async () => {
    const base = new URL(config.DATABASE_URL);
    const database = `hermes_trust_backfill_${randomUUID().replaceAll('-', '')}`;
    const admin = async (sql: string) => {
      const client = new pg.Client({ connectionString: Object.assign(new URL(base), { pathname: '/postgres' }).toString() });
      await client.connect();
      try {
        await client.query(sql);
      } finally {
        await client.end();
      }
    };
    await admin(`CREATE DATABASE ${database}`);
    const scratchUrl = Object.assign(new URL(base), { pathname: `/${database}` }).toString();
    // The migrations to date in a child process (the way `npm start` runs them), then this one
    // undone, a history written without it, and this one applied again.
    await new Promise<void>((resolve, reject) =>
      execFile('node_modules/.bin/tsx', ['scripts/migrate.ts'], { env: { ...process.env, DATABASE_URL: scratchUrl } }, (err, _out, stderr) =>
        err ? reject(new Error(stderr)) : resolve(),
      ),
    );
    const scratch = knexFactory({ client: 'pg', connection: scratchUrl, pool: { min: 0, max: 2 } });
    try {
      await aggregatesMigration.down(scratch);
      expect(await scratch.schema.hasTable('agent_trust_aggregates')).toBe(false);
      const [user] = await scratch('users').insert({ email: 'old@example.com', password_hash: 'x', name: 'old' }).returning('id');
      const agents = await scratch('agents')
        .insert(Array.from({ length: 5 }, (_, i) => ({ owner_id: user.id, name: `old ${i}` })))
        .returning('id');
      await scratch.raw(
        `INSERT INTO agent_metrics (agent_id, outcome, promised_eta_seconds, actual_seconds, rating, price_cents, execution_ms, recorded_at)
         SELECT a.id, (CASE WHEN g % 4 = 0 THEN 'failure' ELSE 'success' END)::metric_outcome, 600, g * 7, 1 + g % 5, g * 10,
                CASE WHEN g % 3 = 0 THEN g * 11 END, now() - make_interval(hours => g * 9)
         FROM agents a CROSS JOIN generate_series(1, 200) g`,
      );
      await aggregatesMigration.up(scratch);
      const ids = agents.map((a) => a.id as string).sort();
      const now = new Date((await scratch.raw('SELECT now() AS now')).rows[0].now);
      const backfilled = await aggregates(scratch, ids, now);
      expect(backfilled.map((r) => r.outcomes)).toEqual([200, 200, 200, 200, 200]);
      expect(backfilled.every((r) => r.successes === 150 && r.rating_count === 200)).toBe(true);
      // The same figures straight from the rows.
      const plain = await scratch.raw(
        `SELECT agent_id, sum(rating)::int AS rating_sum, (sum(price_cents) FILTER (WHERE outcome = 'success'))::int AS earnings_cents,
           (count(*) FILTER (WHERE outcome = 'success'))::int AS duration_count,
           (sum(coalesce(execution_ms, actual_seconds * 1000)) FILTER (WHERE outcome = 'success'))::int AS duration_sum_ms,
           count(DISTINCT floor(extract(epoch FROM recorded_at) / 86400)) FILTER (WHERE recorded_at > :now::timestamptz - interval '30 days')::int AS days
         FROM agent_metrics WHERE agent_id = ANY(:ids::uuid[]) GROUP BY agent_id ORDER BY agent_id`,
        { ids, now: now.toISOString() },
      );
      expect(
        backfilled.map((r) => ({
          agent_id: r.agent_id,
          rating_sum: r.rating_sum,
          earnings_cents: r.earnings_cents,
          duration_count: r.duration_count,
          duration_sum_ms: r.duration_sum_ms,
          days: (r.window_days as string).split(',').length,
        })),
      ).toEqual(plain.rows);
      await rebuildTrustAggregates(scratch, { agentIds: ids, now });
      expect(await aggregates(scratch, ids, now)).toEqual(backfilled);
    } finally {
      await scratch.destroy();
      await admin(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    }
  });
});
