import { HttpError } from './errors';
import { uuid } from './validate';

// Keyset cursors over (created_at, id), newest first: stable under concurrent inserts.
export const encodeCursor = (c: { created_at: Date; id: string }) =>
  Buffer.from(JSON.stringify([new Date(c.created_at).toISOString(), c.id])).toString('base64url');

// Exactly what encodeCursor writes (toISOString of a row's timestamp): a date JavaScript
// parses but Postgres refuses ("1", year 275760) never reaches the query.
const CURSOR_TIME = /^[1-9]\d{3}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const isCursorTime = (at: unknown): at is string =>
  typeof at === 'string' && CURSOR_TIME.test(at) && new Date(at).toISOString() === at;

export function decodeCursor(cursor: string): [string, string] {
  try {
    const [at, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString()) as [unknown, unknown];
    if (!isCursorTime(at) || !uuid.safeParse(id).success) throw new Error('bad cursor');
    return [at, id as string];
  } catch {
    throw new HttpError('INVALID_CURSOR', 'cursor: not a cursor from a previous page', [{ field: 'cursor' }]);
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
