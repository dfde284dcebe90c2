import type { Knex } from 'knex';
import type { z } from 'zod';
import type { AcceptanceInput } from '../domain/acceptance';
import type { Config } from '../lib/config';
import type { OutputChecks } from '../lib/output-checks';
import { HttpError } from './errors';
import { referenceNotFound } from './references';
import type { acceptanceBody } from './routes/contract-schemas';

// A contract's acceptance checks as the request declares them → what its workflow holds. The
// output_schema must be a usable JSON Schema (ajv, draft 2020-12; lib/acceptance.ts) of bounded
// size, and the verifier one the caller uploaded; it is pinned by SHA-256 here, so the checks a
// contract was created with are the checks that run.
export async function resolveAcceptance(
  deps: { knex: Knex; config: Pick<Config, 'ACCEPTANCE_SCHEMA_MAX_BYTES' | 'SANDBOX_TASK_QUEUE'>; schemaChecks: Pick<OutputChecks, 'problems'> },
  userId: string,
  body: z.infer<typeof acceptanceBody>,
): Promise<AcceptanceInput> {
  const field = 'acceptance.output_schema';
  if (body.output_schema) {
    const bytes = Buffer.byteLength(JSON.stringify(body.output_schema));
    if (bytes > deps.config.ACCEPTANCE_SCHEMA_MAX_BYTES) {
      throw new HttpError('VALIDATION_ERROR', `${field}: the schema is ${bytes} bytes of JSON; at most ${deps.config.ACCEPTANCE_SCHEMA_MAX_BYTES} are allowed`, [{ field }]);
    }
    const problems = await deps.schemaChecks.problems(body.output_schema);
    if (problems) {
      const where = (path: string) => (path ? ` at ${path}` : '');
      const [first] = problems;
      throw new HttpError(
        'VALIDATION_ERROR',
        `${field}: not a usable JSON Schema (draft 2020-12)${where(first!.path)}: ${first!.message}`,
        problems.map((p) => ({ field, message: `${p.path || '/'}: ${p.message}` })),
      );
    }
  }
  let verifier: AcceptanceInput['verifier'];
  if (body.verifier_id) {
    const row = await deps.knex('verifiers').where({ id: body.verifier_id, owner_id: userId }).whereNull('deleted_at').first('id', 'name', 'sha256', 'url');
    if (!row) throw referenceNotFound('verifier', 'acceptance.verifier_id');
    verifier = { id: row.id, name: row.name, sha256: row.sha256, url: row.url };
  }
  return {
    ...(body.output_schema && { outputSchema: body.output_schema }),
    ...(verifier && { verifier }),
    onPass: body.on_pass,
    taskQueue: deps.config.SANDBOX_TASK_QUEUE,
  };
}
