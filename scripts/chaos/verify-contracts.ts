import type { Truth } from './collect';
import { TERMINAL, type Drive } from './drive';
import type { Findings } from './findings';
import type { Journal } from './journal';

// No contract lost, none stuck: every contract a client was told exists (201) is there, seen
// the same from the API and the database, terminal, and its workflow closed; no client waited
// in vain for the state its next step needed (DELIVERED after its 2xx delivery, say); and no
// contract exists that no client was told about.
export function verifyContracts(truth: Truth, created: Set<string>, journal: Journal, drives: Drive[], f: Findings): void {
  for (const name of ['lost contracts', 'stuck contracts', 'workflow not completed', 'API and database disagree', 'client waited in vain for the next state']) f.check(name);
  for (const d of drives) {
    for (const note of d.notes.filter((n) => n.startsWith('gave up waiting'))) {
      f.fail('client waited in vain for the next state', `${d.id} [${d.scenario}]: ${note} (ended ${outcomeOf(truth.contracts.get(d.id))})`);
    }
  }
  f.check('contract created without a 201 to its client', true);

  for (const id of created) {
    const t = truth.contracts.get(id);
    if (!t || !t.db || t.apiStatus === 404) {
      f.fail('lost contracts', `${id}: API ${t?.apiStatus}, database ${t?.db ? 'has it' : 'has no row'}`);
      continue;
    }
    const status = t.api?.status ?? t.db.status;
    if (!TERMINAL.includes(status) || !TERMINAL.includes(t.db.status)) {
      f.fail('stuck contracts', `${id}: ${status} (database ${t.db.status}) ${t.db.status_detail ?? ''}`);
    }
    if (t.api && t.api.status !== t.db.status) f.fail('API and database disagree', `${id}: API ${t.api.status}, database ${t.db.status}`);
    if (t.workflowStatus !== 'COMPLETED') f.fail('workflow not completed', `${id}: contract-${id} is ${t.workflowStatus ?? 'not found'}`);
  }

  // A contract in the database that no 201 named: a retried create that made a second one,
  // or a create the client was told failed.
  for (const id of truth.dbContractIds) {
    if (created.has(id)) continue;
    const row = truth.contracts.get(id)?.db;
    const tag = String(row?.intent ?? '').split(' ').pop();
    const asked = journal.exchanges.filter((x) => x.route === 'POST /contracts' && JSON.stringify(x.body ?? '').includes(tag ?? '?'));
    const answers = asked.map((x) => `${x.probeOf ? 'the replay' : 'the create'} (key ${x.key?.slice(0, 8)}) tried ${x.attempts.map((a) => a.status || a.error).join(',')} → ${x.final?.body?.id ?? 'no id'}`);
    f.fail('contract created without a 201 to its client', `${id} ("${row?.intent}", ${row?.status}): ${answers.join('; ') || 'no request found'}`, true);
  }
}

export function outcomeOf(t: { api: any; db: any } | undefined): string {
  const c = t?.api ?? t?.db;
  if (!c) return 'lost';
  return c.failure_reason ? `${c.status}/${c.failure_reason}` : c.status;
}
