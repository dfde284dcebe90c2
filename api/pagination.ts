import { HttpError } from './errors';
import { uuid } from './validate';

// Keyset cursors over (created_at, id), newest first: stable under concurrent inserts.
export const encodeCursor = (c: { created_at: Date; id: string }) =>
  Buffer.from(JSON.stringify([new Date(c.created_at).toISOString(), c.id])).toString('base64url');

export function decodeCursor(cursor: string): [string, string] {
  try {
    const [at, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString()) as [string, string];
    if (Number.isNaN(Date.parse(at)) || !uuid.safeParse(id).success) throw new Error('bad cursor');
    return [at, id];
  } catch {
    throw new HttpError('VALIDATION_ERROR', 'cursor: not a cursor from a previous page', [{ field: 'cursor' }]);
  }
}

/** Apply a page request to a query builder ordered newest first. */
export function pageOf<T extends { created_at: Date; id: string }>(rows: T[], limit: number) {
  const page = rows.slice(0, limit);
  return { page, next_cursor: rows.length > limit ? encodeCursor(page[page.length - 1]!) : null };
}

/**
 * Rows after a cursor: `(created_at, id)` below it when paging newest first, above it when
 * paging oldest first. `table` qualifies the columns in a join.
 */
// Structural, so it takes knex and objection query builders alike.
export function afterCursor<Q extends { whereRaw(sql: string, bindings: any): unknown }>(query: Q, cursor: string | undefined, opts: { table?: string; order?: 'desc' | 'asc' } = {}): Q {
  if (!cursor) return query;
  const [at, id] = decodeCursor(cursor);
  const t = opts.table ? `${opts.table}.` : '';
  const op = opts.order === 'asc' ? '>' : '<';
  return query.whereRaw(`(${t}created_at, ${t}id) ${op} (?::timestamptz, ?::uuid)`, [at, id]) as Q;
}
