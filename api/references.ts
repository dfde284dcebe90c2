import type { Knex } from 'knex';
import { HttpError } from './errors';

// Ids inside request bodies get the same rule as ids in paths: the caller must have the right
// to use the object, and an object it may not use answers exactly as one that does not exist
// (404 NOT_FOUND naming the body field), so the answer reveals nothing about other people's
// objects.

/** The 404 for a body field that names something missing or not the caller's to use. */
export const referenceNotFound = (what: string, field: string) => new HttpError('NOT_FOUND', `${what} not found`, [{ field }]);

/** Gives a 404 thrown by a shared lookup (e.g. findContract) the body field it came from. */
export function naming<T>(what: string, field: string, lookup: Promise<T>): Promise<T> {
  return lookup.catch((err: unknown) => {
    if (err instanceof HttpError && err.code === 'NOT_FOUND') throw referenceNotFound(what, field);
    throw err;
  });
}

/**
 * Whether an agent takes part in a contract: it has a bid on it (the bid row is written before
 * the bid's answer is sent) or it is the awarded agent. Deleted contracts involve no one.
 */
export async function agentInvolvedIn(knex: Knex, contractId: string, agentId: string): Promise<boolean> {
  const row = await knex('contracts as c')
    .where('c.id', contractId)
    .whereNull('c.deleted_at')
    .andWhere((q) =>
      q.where('c.awarded_agent_id', agentId).orWhereExists((b) => b.select(knex.raw('1')).from('bids as b').whereRaw('b.contract_id = c.id').where('b.agent_id', agentId)),
    )
    .first('c.id');
  return Boolean(row);
}
