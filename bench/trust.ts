// Trust recompute benchmark (not a test): `npm run bench:trust`. Seeds AGENTS agents with
// METRICS metric rows each into a throwaway Postgres, then times, in one run:
//   1. the set-based recompute (db/trust-sql.ts: one statement for everyone),
//   2. a per-agent loop issuing the same statement once per agent,
//   3. a per-agent loop that reads each agent's rows and computes in TypeScript, then upserts.
import { createKnex } from '../db/knex';
import { recomputeTrustScores, toMetricRow } from '../db/trust-sql';
import { computeTrust } from '../domain/trust';
import { loadConfig } from '../lib/config';

const AGENTS = Number(process.env.BENCH_AGENTS ?? 10_000);
const METRICS = Number(process.env.BENCH_METRICS ?? 100);
const knex = createKnex(loadConfig());

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
async function timed<T>(f: () => Promise<T>): Promise<[T, number]> {
  const t = performance.now();
  const r = await f();
  return [r, performance.now() - t];
}

console.log(`Trust recompute benchmark: ${AGENTS.toLocaleString('en')} agents × ${METRICS} metrics\n`);
const [, seedMs] = await timed(async () => {
  await knex.raw('SELECT setseed(0.42)');
  const [owner] = await knex('users').insert({ email: `bench-${Date.now()}@example.com`, password_hash: 'x', name: 'bench' }).returning('id');
  await knex.raw(
    `INSERT INTO agents (owner_id, name, created_at, last_seen_at)
     SELECT ?, 'agent ' || g, now() - make_interval(secs => random() * 90 * 86400),
            CASE WHEN random() < 0.5 THEN now() - make_interval(secs => random() * 40 * 86400) END
     FROM generate_series(1, ?) g`,
    [owner.id, AGENTS],
  );
  await knex.raw(
    `INSERT INTO agent_metrics (agent_id, outcome, promised_eta_seconds, actual_seconds, rating, price_cents, execution_ms, recorded_at)
     SELECT a.id,
       (CASE WHEN random() < 0.9 THEN 'success' ELSE 'failure' END)::metric_outcome,
       600, (random() * 1200)::int,
       CASE WHEN random() < 0.5 THEN 1 + (random() * 4)::int END,
       (random() * 10000)::int,
       CASE WHEN random() < 0.3 THEN (random() * 5000)::int END,
       now() - make_interval(secs => random() * 60 * 86400)
     FROM agents a CROSS JOIN generate_series(1, ?) g
     WHERE a.owner_id = ?`,
    [METRICS, owner.id],
  );
  await knex.raw('ANALYZE agents; ANALYZE agent_metrics');
});
const ids: string[] = await knex('agents').pluck('id');
console.log(`seeded ${(AGENTS * METRICS).toLocaleString('en')} metric rows in ${seconds(seedMs)}\n`);

const [rows, setMs] = await timed(() => recomputeTrustScores(knex));
console.log(`  set-based, one statement           ${seconds(setMs).padStart(10)}   (${rows} agents)`);

const [, loopSqlMs] = await timed(async () => {
  for (const id of ids) await recomputeTrustScores(knex, { agentIds: [id] });
});
console.log(`  per-agent loop, same SQL per agent ${seconds(loopSqlMs).padStart(10)}   ${(loopSqlMs / setMs).toFixed(1)}x the set-based time`);

const [, loopTsMs] = await timed(async () => {
  const now = new Date();
  for (const id of ids) {
    const agent = await knex('agents').where({ id }).first('created_at', 'last_seen_at');
    const metrics = await knex('agent_metrics').where({ agent_id: id });
    const r = computeTrust({
      metrics: metrics.map(toMetricRow),
      createdAt: new Date(agent.created_at),
      lastSeenAt: agent.last_seen_at ? new Date(agent.last_seen_at) : null,
      now,
    });
    await knex('agent_trust_scores')
      .insert({
        agent_id: id,
        trust_score: r.trust_score,
        grade: r.grade,
        ...r.breakdown,
        badges: r.badges,
        total_contracts: r.stats.total_contracts,
        successful_contracts: r.stats.successful_contracts,
        total_earnings_cents: r.stats.total_earnings,
        avg_execution_seconds: r.stats.avg_execution_time,
        computed_at: now,
      })
      .onConflict('agent_id')
      .merge();
  }
});
console.log(`  per-agent loop, read + TS + upsert ${seconds(loopTsMs).padStart(10)}   ${(loopTsMs / setMs).toFixed(1)}x the set-based time`);
await knex.destroy();
