import type { Knex } from 'knex';
import type { Cast } from './actors';
import { TERMINAL } from './drive';
import type { Http } from './http';

// Contracts no path drives: a create retried or replayed with its key that made a second one.
// Their owner cancels them, as a client that found a duplicate would, so that they end too;
// the checks still report each as created without a 201.
export async function cancelStrays(opts: { http: Http; knex: Knex; cast: Cast; driven: Set<string> }): Promise<string[]> {
  const owners = new Map(opts.cast.owners.map((o) => [o.id, o]));
  const open = await opts.knex('contracts').whereIn('user_id', [...owners.keys()]).whereNotIn('status', TERMINAL).select('id', 'user_id');
  const strays = open.filter((c) => !opts.driven.has(c.id));
  for (const c of strays) {
    const owner = owners.get(c.user_id)!;
    await opts.http.call('POST', `/contracts/${c.id}/cancel`, {
      actor: owner.name,
      credentials: { token: owner.token },
      body: { reason: 'chaos: a duplicate its owner never asked for' },
      contractId: c.id,
    });
  }
  return strays.map((c) => c.id);
}
