import type { Knex } from 'knex';
import { outputText } from '../domain/execution';

// A WASM agent's stdout and stderr are bytes, kept byte for byte: `bytea`, not `text` (which
// cannot hold NUL or invalid UTF-8, so they used to be stored with U+FFFD in their place).
// Existing rows keep the text they had, as its UTF-8 bytes.
//
// `<stream>_sha256` (hex) and `<stream>_bytes` (length) are columns Postgres generates from
// the bytes themselves: they can never disagree with them, existing rows get theirs from this
// ALTER, and the writer (activities/execute-agent.ts) reads them back with RETURNING instead of
// computing its own. NULL output (never written by the activity) has NULL hash and length.
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE task_results
      ALTER COLUMN stdout TYPE bytea USING convert_to(stdout, 'UTF8'),
      ALTER COLUMN stderr TYPE bytea USING convert_to(stderr, 'UTF8')`);
  await knex.raw(`
    ALTER TABLE task_results
      ADD COLUMN stdout_sha256 text GENERATED ALWAYS AS (encode(sha256(stdout), 'hex')) STORED,
      ADD COLUMN stdout_bytes integer GENERATED ALWAYS AS (octet_length(stdout)) STORED,
      ADD COLUMN stderr_sha256 text GENERATED ALWAYS AS (encode(sha256(stderr), 'hex')) STORED,
      ADD COLUMN stderr_bytes integer GENERATED ALWAYS AS (octet_length(stderr)) STORED`);
}

// Back to text, the old lossy way (NUL and invalid UTF-8 become U+FFFD): Postgres has no
// decoding that cannot fail, so the rows are converted here, a page at a time.
export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE task_results
      DROP COLUMN stdout_sha256, DROP COLUMN stdout_bytes,
      DROP COLUMN stderr_sha256, DROP COLUMN stderr_bytes,
      ADD COLUMN stdout_text text,
      ADD COLUMN stderr_text text`);
  const asText = (b: Buffer | null) => (b === null ? null : outputText(b));
  let after: string | null = null;
  for (;;) {
    const rows: Array<{ id: string; stdout: Buffer | null; stderr: Buffer | null }> = await knex('task_results')
      .select('id', 'stdout', 'stderr')
      .modify((q) => (after ? q.where('id', '>', after) : q))
      .orderBy('id')
      .limit(500);
    for (const row of rows) {
      await knex('task_results').where({ id: row.id }).update({ stdout_text: asText(row.stdout), stderr_text: asText(row.stderr) });
      after = row.id;
    }
    if (rows.length < 500) break;
  }
  await knex.raw(`
    ALTER TABLE task_results
      DROP COLUMN stdout,
      DROP COLUMN stderr`);
  await knex.raw('ALTER TABLE task_results RENAME COLUMN stdout_text TO stdout');
  await knex.raw('ALTER TABLE task_results RENAME COLUMN stderr_text TO stderr');
}
