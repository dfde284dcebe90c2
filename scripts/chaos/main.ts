// The chaos run's driver (started by scripts/chaos.sh on its own stack): runs the API, the main
// worker and the sandbox worker as children it kills and restarts, drives CHAOS_CONTRACTS
// contracts over every path while the faults run, then checks and prints the figures. Exits 1
// when any check failed.
import { writeFileSync } from 'node:fs';
import { createKnex } from '../../db/knex';
import { loadConfig } from '../../lib/config';
import { assembleCast, closeCast } from './actors';
import { collectTruth } from './collect';
import { extraContracts, TERMINAL, type Drive } from './drive';
import { Faults } from './faults';
import { Findings } from './findings';
import { createHttp } from './http';
import { Journal } from './journal';
import { Supervised } from './processes';
import { seededRandom, sleep } from './random';
import { acceptToSettled, printReport } from './report';
import { drivePath, PATHS } from './scenarios';
import { cancelStrays } from './strays';
import { apiBase, settings } from './settings';
import { verifyAnswers } from './verify-answers';
import { verifyContracts } from './verify-contracts';
import { verifyEvents } from './verify-events';
import { verifyHttp } from './verify-http';
import { verifyMoney } from './verify-money';

const startedAt = Date.now();
const config = loadConfig();
const say = (msg: string) => console.log(`[chaos ${((Date.now() - startedAt) / 1000).toFixed(0).padStart(4)}s] ${msg}`);

// The processes under test get the run's ports; rate limits are out of the way (one address, many clients).
const env = {
  API_HOST: '127.0.0.1',
  API_PORT: String(settings.apiPort),
  LOG_LEVEL: 'info',
  RATE_LIMIT_USER_PER_MINUTE: '1000000',
  RATE_LIMIT_AGENT_PER_MINUTE: '1000000',
  RATE_LIMIT_AUTH_PER_MINUTE: '1000000',
  RATE_LIMIT_PUBLIC_PER_MINUTE: '1000000',
  SANDBOX_CACHE_DIR: `${settings.runDir}/binaries`,
};
const api = new Supervised({ name: 'api', script: 'api/main.ts', env, readyUrl: `${apiBase}/health` });
const worker = new Supervised({
  name: 'worker',
  script: 'workers/main.ts',
  env,
  readyLine: /"msg":"worker started"/,
});
const sandbox = new Supervised({ name: 'sandbox', script: 'workers/sandbox.ts', env, readyLine: /"msg":"sandbox worker started"/ });
const procs = [api, worker, sandbox];
process.on('exit', () => procs.forEach((p) => p.killNow()));
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));

for (const p of procs) p.start();
await Promise.all(procs.map((p) => p.waitReady(300_000)));
say(`API, worker and sandbox worker up (API ${apiBase})`);

const journal = new Journal();
const http = createHttp(journal);
const cast = await assembleCast(http);
const rnd = seededRandom(settings.seed);
const ctx = { http, rnd, cast };
say(`${cast.owners.length} owners, ${cast.all.length} agents (${cast.wasm.length} WASM); driving ${settings.contracts} contracts, ${settings.concurrency} at a time`);

// Every path at least once, then by weight.
const plan = Array.from({ length: settings.contracts }, (_, i) => {
  const [name, path] = i < PATHS.length ? PATHS[i]! : rnd.weighted(PATHS.map(([n, p, w]) => [[n, p, w] as const, w] as const));
  return { name, path };
});
const faults = new Faults({ api, worker }, rnd);
faults.startWorkerKiller();
const drives: Drive[] = [];
let next = 0;
const progress = setInterval(() => say(`launched ${next}/${plan.length}, finished ${drives.length}; faults so far: ${faults.log.length}`), 15_000);
await Promise.all(
  Array.from({ length: Math.min(settings.concurrency, plan.length) }, async (_, slot) => {
    await sleep(slot * 250);
    while (next < plan.length) {
      const { name, path } = plan[next++]!;
      faults.onProgress(next / plan.length);
      drives.push(await drivePath(ctx, name, path));
    }
  }),
);
const drivenAt = Date.now();
clearInterval(progress);
say('every contract driven; stopping the faults');
await faults.stop();

const knex = createKnex(config);
const created = new Set([...drives.filter((d) => d.id).map((d) => d.id), ...extraContracts]);
const strays = await cancelStrays({ http, knex, cast, driven: new Set(drives.map((d) => d.id)) });
if (strays.length) say(`cancelled ${strays.length} contracts no path drives (duplicates of a create)`);
// Stragglers get a last minute with every service up before anything counts as stuck.
const everyContract = [...created, ...strays];
for (let waited = 0; waited < 60_000; waited += 2000) {
  const open = await knex('contracts').whereIn('id', everyContract).whereNotIn('status', TERMINAL).count({ n: '*' });
  if (Number(open[0]!.n) === 0) break;
  await sleep(2000);
}
await sleep(3000); // the last events reach the sockets
say('collecting what is true');

const truth = await collectTruth({ http, knex, config, cast, created });
const findings = new Findings();
verifyContracts(truth, created, journal, drives, findings);
verifyAnswers({ truth, journal, drives, cast }, findings);
verifyMoney(truth, drives, new Set(cast.wasm.map((a) => a.id)), findings);
verifyEvents(truth, cast, findings);
verifyHttp(journal, findings);
// A Hermes process that exits without being told to (a crash on a fault) is a failure too.
findings.check('Hermes process exited on its own');
for (const p of procs) {
  for (const e of p.unexpectedExits) findings.fail('Hermes process exited on its own', `${p.spec.name} at ${new Date(e.at).toISOString()}: code ${e.code}, signal ${e.signal} (see logs/${p.spec.name}.log)`);
}
const latency = acceptToSettled(truth, journal, faults.workerKillTimes(), settings.afterKillWindowMs);

const report = printReport(
  {
    contracts: settings.contracts,
    seed: settings.seed,
    startedAt,
    drivenAt,
    endedAt: Date.now(),
    faults: faults.log,
    unexpectedExits: Object.fromEntries(procs.map((p) => [p.spec.name, p.unexpectedExits.length])),
  },
  truth,
  drives,
  journal,
  findings,
  latency,
);
console.log(report);
// Every request and answer, for a look at a failure's evidence.
writeFileSync(`${settings.logDir}/journal.jsonl`, journal.exchanges.map((x) => JSON.stringify(x)).join('\n'));
const notes = drives.filter((d) => d.notes.length);
console.log(`\n  Driver notes on ${notes.length} contracts: logs/driver-notes.log; every request and answer: logs/journal.jsonl`);
writeFileSync(`${settings.logDir}/driver-notes.log`, notes.map((d) => `${d.id || '(not created)'} [${d.scenario}]\n  ${d.notes.join('\n  ')}`).join('\n'));

closeCast(cast);
await knex.destroy();
await Promise.all(procs.map((p) => p.stop()));
process.exit(findings.failed ? 1 : 0);
