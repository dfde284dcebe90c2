import type { Knex } from 'knex';

// The hot read routes (GET /contracts/:id, GET /agents) have Postgres build their answer's JSON
// and send it on as text: no query builder, no row parsing, no serializing in Node. The
// statement runs on a connection from knex's own pool (same pool, same limits), written with
// pg's $n placeholders, as a prepared statement.

/**
 * `name` makes it a prepared statement on each pooled connection: Postgres plans a statement
 * of many subqueries once per connection instead of on every request (planning GET
 * /contracts/:id's took longer than running it). One name, one text.
 */
export async function queryRows<Row>(knex: Knex, query: { name: string; text: string; values: readonly unknown[] }): Promise<Row[]> {
  const conn = await knex.client.acquireConnection();
  try {
    return (await conn.query(query)).rows as Row[];
  } finally {
    await knex.client.releaseConnection(conn);
  }
}

/** A timestamptz as the API writes it: ISO 8601 in UTC with milliseconds, as Date#toISOString. */
export const isoSql = (col: string) => `to_char(${col} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
