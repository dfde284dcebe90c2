import multer from '@koa/multer';
import Router from '@koa/router';
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { currentUserId } from '../auth';
import { compileUpload } from '../compile-upload';
import type { ApiDeps } from '../deps';
import { HttpError, notFound } from '../errors';
import { idempotentCreate } from '../idempotency';
import { assertCleanInput } from '../input-guards';
import { afterCursor, pageOf } from '../pagination';
import { intFromText, NOT_BLANK, parse, pathId } from '../validate';
import { multipart } from './agents';

// Verifiers: WASM modules a user uploads to check deliveries of their contracts (acceptance
// checks, README). The same upload as an agent binary — multipart, the same size limit, compiled
// to validate it (the same bounded compiler), stored in S3 by SHA-256 — and owned by the user:
// only its owner sees it or names it in a contract's acceptance.verifier_id.

export const verifierUploadFields = z.strictObject({
  name: z.string().max(100).trim().min(1).regex(NOT_BLANK, 'must not be blank'),
  description: z.string().max(5000).default(''),
});

export const listVerifiers = z.strictObject({
  limit: intFromText(z.number().int().min(1).max(100)).default(20),
  cursor: z.string().max(200).optional(),
});

interface VerifierRow {
  id: string;
  name: string;
  description: string;
  sha256: string;
  size_bytes: number | string;
  created_at: Date;
  updated_at: Date;
}

export function verifierJson(v: VerifierRow) {
  return {
    id: v.id,
    name: v.name,
    description: v.description,
    sha256: v.sha256,
    size_bytes: Number(v.size_bytes),
    created_at: new Date(v.created_at).toISOString(),
    updated_at: new Date(v.updated_at).toISOString(),
  };
}

const COLUMNS = ['id', 'name', 'description', 'sha256', 'size_bytes', 'created_at', 'updated_at'];

export function verifiersRouter({ knex, auth, config, moduleCompiler, binaries }: ApiDeps): Router {
  const r = new Router({ prefix: '/verifiers' });
  r.use(auth.requireUser);
  const upload = multer({
    storage: multer.memoryStorage(),
    limits: { fileSize: config.SANDBOX_MAX_UPLOAD_BYTES, files: 1, fields: 20, fieldSize: 64 * 1024 },
  });

  // Compiled before anything is stored; S3 is written before Postgres. Idempotency-Key: the
  // request is its fields and the module's SHA-256; a retry gets the first answer.
  r.post('/', multipart(upload.single('file')), async (ctx) => {
    const userId = currentUserId(ctx);
    const fields = parse(verifierUploadFields, ctx.request.body);
    assertCleanInput(fields);
    const file = ctx.request.file;
    if (!file) throw new HttpError('VALIDATION_ERROR', 'file: send the .wasm module as multipart field "file"', [{ field: 'file' }]);
    const compiled = await compileUpload(moduleCompiler, file.buffer);
    const request = { fields, file_sha256: compiled.sha256 };
    await idempotentCreate({ knex, config }, ctx, { caller: { kind: 'user', id: userId }, route: 'POST /verifiers', request }, async (db) => {
      const id = randomUUID();
      const stored = await binaries.putVerifier(id, file.buffer, compiled.sha256);
      const [row] = await db('verifiers')
        .insert({ id, owner_id: userId, name: fields.name, description: fields.description, sha256: compiled.sha256, size_bytes: compiled.size, url: stored.url })
        .returning(COLUMNS);
      return { status: 201, body: verifierJson(row) };
    });
    ctx.set('Location', `/api/v1/verifiers/${(ctx.body as { id: string }).id}`);
  });

  r.get('/', async (ctx) => {
    const q = parse(listVerifiers, ctx.query);
    let query = knex('verifiers')
      .where({ owner_id: currentUserId(ctx) })
      .whereNull('deleted_at')
      .orderBy([{ column: 'created_at', order: 'desc' }, { column: 'id', order: 'desc' }])
      .limit(q.limit + 1)
      .select(COLUMNS);
    query = afterCursor(query, q.cursor);
    const { page, next_cursor } = pageOf(await query, q.limit);
    ctx.body = { data: page.map(verifierJson), next_cursor };
  });

  r.get('/:id', async (ctx) => {
    const row = await knex('verifiers').where({ id: pathId(ctx.params.id), owner_id: currentUserId(ctx) }).whereNull('deleted_at').first(COLUMNS);
    if (!row) throw notFound('verifier');
    ctx.body = verifierJson(row);
  });

  return r;
}
