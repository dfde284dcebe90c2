import type { Knex } from 'knex';

// The hot read routes (GET /contracts/:id, GET /agents) have Postgres build their answer's JSON
// and send it on as text: no query builder, no row parsing, no serializing in Node. The
// statement runs on a connection from knex's own pool (same pool, same limits), written with
// pg's $n placeholders.

export async function queryRows<Row>(knex: Knex, text: string, values: readonly unknown[]): Promise<Row[]> {
  const conn = await knex.client.acquireConnection();
  try {
    return (await conn.query({ text, values })).rows as Row[];
  } finally {
    await knex.client.releaseConnection(conn);
  }
}

/** A timestamptz as the API writes it: ISO 8601 in UTC with milliseconds, as Date#toISOString. */
export const isoSql = (col: string) => `to_char(${col} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
