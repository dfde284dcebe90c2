// Trust benchmark (not a test): `npm run bench:trust`. Seeds AGENTS agents with METRICS
// metric rows each (plus one agent with HEAVY rows) into a throwaway Postgres, then times:
//   1. the nightly full recompute: every agent scored from its running aggregates (one
//      statement; the goal is ≤ 1 s for 10,000 × 100);
//   2. the set-based rebuild of all aggregates from agent_metrics (the repair / backfill path);
//   3. the per-settlement cost: recordAgentMetric (the metric row, the aggregates trigger and
//      the agent's re-score: what a settlement's transaction adds for trust), for an ordinary
//      agent and for the heavy one (O(1): the same);
//   4. for comparison, re-deriving one agent from its metric rows (what each settlement cost
//      before the aggregates), for both agents (O(history)).
import { loadavg } from 'node:os';
import { createMetricActivities } from '../activities/metrics';
import { createKnex } from '../db/knex';
import { rebuildTrustAggregates, recomputeTrustScores } from '../db/trust-sql';
import { loadConfig } from '../lib/config';

const AGENTS = Number(process.env.BENCH_AGENTS ?? 10_000);
const METRICS = Number(process.env.BENCH_METRICS ?? 100);
const HEAVY = Number(process.env.BENCH_HEAVY_METRICS ?? 100_000);
const SETTLEMENTS = Number(process.env.BENCH_SETTLEMENTS ?? 500);
const REPEAT = Number(process.env.BENCH_REPEAT ?? 5);
const knex = createKnex(loadConfig());
const metrics = createMetricActivities({ knex });

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const millis = (ms: number) => `${ms.toFixed(2)} ms`;
async function timed<T>(f: () => Promise<T>): Promise<[T, number]> {
  const t = performance.now();
  const r = await f();
  return [r, performance.now() - t];
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!;

const load = () => `load average ${loadavg().map((l) => l.toFixed(2)).join(', ')}`;
console.log(`Trust benchmark: ${AGENTS.toLocaleString('en')} agents × ${METRICS} metrics, plus one agent with ${HEAVY.toLocaleString('en')} (${load()})\n`);
const [owner] = await knex('users').insert({ email: `bench-${Date.now()}@example.com`, password_hash: 'x', name: 'bench' }).returning('id');
const [, seedMs] = await timed(async () => {
  await knex.raw('SELECT setseed(0.42)');
  await knex.raw(
    `INSERT INTO agents (owner_id, name, created_at, last_seen_at)
     SELECT ?, 'agent ' || g, now() - make_interval(secs => random() * 90 * 86400),
            CASE WHEN random() < 0.5 THEN now() - make_interval(secs => random() * 40 * 86400) END
     FROM generate_series(1, ?) g`,
    [owner.id, AGENTS + 1],
  );
  const [heavy] = await knex('agents').where({ owner_id: owner.id }).orderBy('id').limit(1).pluck('id');
  const seed = (where: string, n: number, bindings: string[]) =>
    knex.raw(
      `INSERT INTO agent_metrics (agent_id, outcome, promised_eta_seconds, actual_seconds, rating, price_cents, execution_ms, recorded_at)
       SELECT a.id,
         (CASE WHEN random() < 0.9 THEN 'success' ELSE 'failure' END)::metric_outcome,
         600, (random() * 1200)::int,
         CASE WHEN random() < 0.5 THEN 1 + (random() * 4)::int END,
         (random() * 10000)::int,
         CASE WHEN random() < 0.3 THEN (random() * 5000)::int END,
         now() - make_interval(secs => random() * 60 * 86400)
       FROM agents a CROSS JOIN generate_series(1, ?) g
       WHERE ${where}`,
      [n, ...bindings],
    );
  await seed('a.owner_id = ? AND a.id <> ?', METRICS, [owner.id, heavy]);
  await seed('a.id = ?', HEAVY, [heavy]);
  // Contracts for the settlements below (agent_metrics.contract_id references them).
  await knex.raw(
    `INSERT INTO contracts (user_id, workflow_id, intent, reward_cents, weights, bidding_deadline, delivery_window_seconds, review_window_seconds)
     SELECT ?, 'bench-' || gen_random_uuid(), 'bench', 10000, '{}', now(), 60, 60 FROM generate_series(1, ?)`,
    [owner.id, 2 * SETTLEMENTS],
  );
  await knex.raw('ANALYZE agents; ANALYZE agent_metrics; ANALYZE agent_trust_aggregates; ANALYZE contracts');
});
const ids: string[] = await knex('agents').where({ owner_id: owner.id }).orderBy('id').pluck('id');
const heavy = ids[0]!;
const ordinary = ids.slice(1);
const contracts: string[] = await knex('contracts').where({ user_id: owner.id }).pluck('id');
console.log(
  `seeded ${(AGENTS * METRICS + HEAVY).toLocaleString('en')} metric rows in ${seconds(seedMs)} (two INSERT statements; the trigger folds them into the aggregates)\n`,
);

// 1. The nightly recompute, from the aggregates: as of each of the next REPEAT days, so the
//    uptime window moves and scores change as they would night after night.
await recomputeTrustScores(knex); // first run inserts the agent_trust_scores rows
const full: number[] = [];
let scored = 0;
for (let i = 1; i <= REPEAT; i++) {
  const [n, ms] = await timed(() => recomputeTrustScores(knex, { now: new Date(Date.now() + i * 86_400_000) }));
  scored = n;
  full.push(ms);
}
console.log(`  full recompute (nightly), all agents from aggregates   ${seconds(median(full)).padStart(8)}   median of ${REPEAT} (min ${seconds(Math.min(...full))}, max ${seconds(Math.max(...full))}; ${scored} agents)`);

// 2. The set-based rebuild of the aggregates from agent_metrics, then the recompute.
const rebuild: number[] = [];
for (let i = 0; i < Math.min(REPEAT, 3); i++) {
  const [, ms] = await timed(async () => {
    await rebuildTrustAggregates(knex);
    await recomputeTrustScores(knex);
  });
  rebuild.push(ms);
}
console.log(`  rebuild aggregates from agent_metrics + recompute      ${seconds(median(rebuild)).padStart(8)}   median of ${rebuild.length} (min ${seconds(Math.min(...rebuild))})`);

// 3. Per settlement: the trust part of a settlement's transaction.
async function settle(agentId: string, contractId: string) {
  await metrics.recordAgentMetric({
    agentId,
    contractId,
    outcome: 'success',
    failureReason: null,
    promisedEtaSeconds: 600,
    actualSeconds: 300 + Math.floor(Math.random() * 600),
    rating: 1 + Math.floor(Math.random() * 5),
    priceCents: 4_000,
  });
}
const line = (label: string, xs: number[], unit = 'settlements') =>
  console.log(`  ${label.padEnd(53)} ${millis(median(xs)).padStart(8)}   p50 (p99 ${millis(pct(xs, 99))}, mean ${millis(xs.reduce((a, b) => a + b, 0) / xs.length)}; ${xs.length} ${unit})`);
// Interleaved, so both agents see the same conditions on this shared machine.
const ordinaryCost: number[] = [];
const heavyCost: number[] = [];
for (let i = 0; i < SETTLEMENTS; i++) {
  ordinaryCost.push((await timed(() => settle(ordinary[(i * 7919) % ordinary.length]!, contracts[2 * i]!)))[1]);
  heavyCost.push((await timed(() => settle(heavy, contracts[2 * i + 1]!)))[1]);
}
console.log('');
line(`per settlement, agent with ${METRICS} metrics`, ordinaryCost);
line(`per settlement, agent with ${HEAVY.toLocaleString('en')} metrics`, heavyCost);

// 4. What a settlement cost when it re-derived its agent from the metric rows.
async function fromRows(agentId: string): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < 20; i++) {
    const [, ms] = await timed(() =>
      knex.transaction(async (trx) => {
        await rebuildTrustAggregates(trx, { agentIds: [agentId] });
        await recomputeTrustScores(trx, { agentIds: [agentId] });
      }),
    );
    out.push(ms);
  }
  return out;
}
console.log('');
line(`for comparison: re-derive from ${METRICS} metric rows`, await fromRows(ordinary[0]!), 'runs');
line(`for comparison: re-derive from ${HEAVY.toLocaleString('en')} metric rows`, await fromRows(heavy), 'runs');
console.log(`\n(${load()})`);
await knex.destroy();
