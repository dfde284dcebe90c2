import type { Truth } from './collect';
import type { Drive } from './drive';
import type { Fault } from './faults';
import type { Findings } from './findings';
import { is2xx, type Journal } from './journal';
import { outcomeOf } from './verify-contracts';

// The figures a run prints: what ran, what it broke, what the contracts became, every check
// with its failures and examples, what clients saw over HTTP, and accept→SETTLED latency.

export interface RunFigures {
  contracts: number;
  seed: number;
  startedAt: number;
  drivenAt: number;
  endedAt: number;
  faults: Fault[];
  unexpectedExits: Record<string, number>;
}

const pad = (s: string, n: number) => (s.length >= n ? s : s + ' '.repeat(n - s.length));
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

function table(title: string, rows: [string, string | number][]): string {
  const w = Math.max(...rows.map(([k]) => k.length), 10);
  return [`  ${title}`, ...rows.map(([k, v]) => `    ${pad(k, w)}  ${v}`)].join('\n');
}

function quantiles(xs: number[]): string {
  if (!xs.length) return 'n=0';
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)]!;
  return `n=${s.length}  p50 ${secs(q(0.5))}  p90 ${secs(q(0.9))}  max ${secs(s[s.length - 1]!)}`;
}

export function acceptToSettled(truth: Truth, journal: Journal, killTimes: number[], windowMs: number) {
  const all: number[] = [];
  const afterKill: number[] = [];
  const slowest: [string, number][] = [];
  for (const x of journal.exchanges) {
    if (x.route !== 'POST /contracts/:id/accept' || x.probeOf !== undefined || !is2xx(x.final?.status)) continue;
    const c = truth.contracts.get(x.contractId!)?.db;
    if (c?.status !== 'SETTLED' || !c.closed_at) continue;
    const sent = x.attempts[0]!.sentAt;
    const ms = new Date(c.closed_at).getTime() - sent;
    all.push(ms);
    slowest.push([x.contractId!, ms]);
    if (killTimes.some((k) => sent >= k && sent <= k + windowMs)) afterKill.push(ms);
  }
  return { all, afterKill, slowest: slowest.sort((a, b) => b[1] - a[1]).slice(0, 3) };
}

export function printReport(r: RunFigures, truth: Truth, drives: Drive[], journal: Journal, f: Findings, latency: ReturnType<typeof acceptToSettled>): string {
  const out: string[] = [];
  const count = (kind: string) => r.faults.filter((x) => x.kind === kind);
  const down = (xs: Fault[]) =>
    xs.map((x) => `at +${secs(x.at - r.startedAt)}, back in ${x.backAt ? secs(x.backAt - x.at) : `never${x.error ? ` (${x.error})` : ''}`}`).join('; ');
  const kills = count('worker SIGKILL');
  const workerBack = kills.filter((k) => k.backAt).map((k) => k.backAt! - k.at);
  out.push(
    `\nChaos run: ${r.contracts} contracts (seed ${r.seed}), started ${new Date(r.startedAt).toISOString()}, driven in ${secs(r.drivenAt - r.startedAt)}, checked at ${secs(r.endedAt - r.startedAt)}`,
    table('Faults', [
      ['worker SIGKILL', `${kills.length} (ready again after ${quantiles(workerBack)})`],
      ['API SIGKILL', `${count('API SIGKILL').length}: ${down(count('API SIGKILL'))}`],
      ['Temporal restart', `${count('Temporal restart').length}: ${down(count('Temporal restart'))}`],
      ['Postgres restart', `${count('Postgres restart').length}: ${down(count('Postgres restart'))}`],
      ['unexpected exits', Object.entries(r.unexpectedExits).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'],
    ]),
  );

  const outcomes = new Map<string, number>();
  for (const t of truth.contracts.values()) outcomes.set(outcomeOf(t), (outcomes.get(outcomeOf(t)) ?? 0) + 1);
  out.push(table('Contracts by outcome', [...outcomes].sort((a, b) => b[1] - a[1])));
  const paths = new Map<string, Map<string, number>>();
  for (const d of drives) {
    const o = d.id ? outcomeOf(truth.contracts.get(d.id)) : 'not created';
    const m = paths.get(d.scenario) ?? new Map<string, number>();
    m.set(o, (m.get(o) ?? 0) + 1);
    paths.set(d.scenario, m);
  }
  out.push(table('Paths → outcomes', [...paths].map(([p, m]) => [p, [...m].map(([o, n]) => `${o} ${n}`).join(', ')])));

  const checks = [...f.checks.values()];
  const lost = f.checks.get('lost contracts')?.failures ?? 0;
  const stuck = f.checks.get('stuck contracts')?.failures ?? 0;
  out.push(
    table('Summary', [
      ['lost', lost],
      ['stuck', stuck],
      ['wrong answers', f.wrongAnswers()],
      ['5xx other than 503', f.checks.get('5xx other than 503')?.failures ?? 0],
      ['accept→SETTLED', quantiles(latency.all)],
      ['  accept ≤10 s after a worker kill', quantiles(latency.afterKill)],
      ['  slowest', latency.slowest.map(([id, ms]) => `${id} ${secs(ms)}`).join(', ') || '-'],
    ]),
    table('Checks (failures)', checks.map((c) => [`${c.wrongAnswer ? '[answer] ' : ''}${c.name}`, c.failures])),
  );

  const statuses = [...journal.statusCounts()].sort((a, b) => a[0].localeCompare(b[0]));
  const attempts = statuses.reduce((s, [, n]) => s + n, 0);
  const logical = journal.exchanges.length;
  const retried = journal.exchanges.filter((x) => x.attempts.length > 1).length;
  const by5xx = new Map<string, number>();
  for (const x of journal.exchanges) for (const a of x.attempts) if (a.status >= 500) by5xx.set(`${x.route} → ${a.status} ${a.code ?? ''}`, (by5xx.get(`${x.route} → ${a.status} ${a.code ?? ''}`) ?? 0) + 1);
  out.push(
    table(`HTTP answers (${attempts} tries of ${logical} requests; ${retried} requests needed a retry)`, statuses.map(([k, n]) => [k, `${n} (${((100 * n) / attempts).toFixed(2)}%)`])),
    table('5xx by route', [...by5xx].sort((a, b) => b[1] - a[1]).slice(0, 15)),
  );

  const failing = checks.filter((c) => c.failures > 0);
  if (failing.length) {
    out.push('  Failures, with examples');
    for (const c of failing) out.push(`    ${c.name} (${c.failures})`, ...c.examples.map((e) => `      - ${e}`));
  }
  out.push(f.failed ? '\nCHAOS RUN FAILED: see the checks above.' : '\nCHAOS RUN PASSED: every check held.');
  return out.join('\n\n');
}
