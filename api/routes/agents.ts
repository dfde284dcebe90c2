import multer from '@koa/multer';
import { MulterError } from 'multer';
import Router from '@koa/router';
import type { Context, Next } from 'koa';
import type { Knex } from 'knex';
import { LRUCache } from 'lru-cache';
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { isoSql, queryRows } from '../../db/json-reads';
import { AGENT_STATUSES } from '../../domain/statuses';
import { presenceKey } from '../../lib/events';
import { currentUserId } from '../auth';
import { compileUpload } from '../compile-upload';
import { generateApiKey } from '../credentials';
import type { ApiDeps } from '../deps';
import { HttpError, notFound } from '../errors';
import { idempotentCreate } from '../idempotency';
import { assertCleanInput } from '../input-guards';
import { decodeCursor, encodeCursor } from '../pagination';
import { naming } from '../references';
import { agentBinaryJson, agentJson } from '../serializers';
import { capabilities, cents, intFromText, NOT_BLANK, parse, pathId, uuid } from '../validate';

const agentFields = {
  name: z.string().max(100).trim().min(1).regex(NOT_BLANK, 'must not be blank'),
  description: z.string().max(5000),
  version: z.string().max(32).trim().min(1).regex(NOT_BLANK, 'must not be blank'),
  capabilities,
  price_cents: cents,
};

export const createAgent = z.strictObject({
  ...agentFields,
  description: agentFields.description.default(''),
  version: agentFields.version.default('1.0.0'),
  capabilities: agentFields.capabilities.default([]),
  price_cents: agentFields.price_cents.default(0),
});

// Multipart fields arrive as strings: capabilities as a JSON array or comma-separated list.
const capabilityList = z.preprocess((v) => {
  if (typeof v !== 'string') return v;
  const text = v.trim();
  if (text.startsWith('[')) {
    try {
      return JSON.parse(text);
    } catch {
      return v;
    }
  }
  return text === '' ? [] : text.split(',');
}, capabilities);

export const uploadFields = z.strictObject({
  agent_id: uuid.optional(),
  name: agentFields.name.optional(),
  description: agentFields.description.optional(),
  version: agentFields.version.optional(),
  capabilities: capabilityList.optional(),
  price_cents: intFromText(cents).optional(),
})
  // A new agent needs a name; a new version names its agent (checked in the route, said here).
  .meta({ anyOf: [{ required: ['agent_id'] }, { required: ['name'] }] });

/** An API key by the prefix its issue showed (`key_prefix`), on an agent you own. */
export const apiKeyParams = z.strictObject({ id: uuid, prefix: z.string().regex(/^hk_[A-Za-z0-9_-]{7}$/, 'a key_prefix: hk_ and 7 characters') });

export const listAgents = z.object({
  status: z.enum(AGENT_STATUSES).optional(),
  capability: z.string().max(64).trim().toLowerCase().min(1).regex(NOT_BLANK, 'must not be blank').optional(),
  limit: intFromText(z.number().int().min(1).max(100)).default(20),
  cursor: z.string().max(200).optional(),
});

export const searchAgents = z.object({
  q: z.string().max(200).trim().min(1).regex(NOT_BLANK, 'must not be blank'),
  status: z.enum(AGENT_STATUSES).default('active'),
  limit: intFromText(z.number().int().min(1).max(100)).default(20),
  offset: intFromText(z.number().int().min(0).max(10_000)).default(0),
});

// @koa/multer's errors: a file over the cap is 413; anything else it throws is a body it could
// not read (a truncated stream, a missing boundary, a bad part header), which is 400. Its text
// fields then meet the same rule as JSON bodies.
export function multipart(middleware: (ctx: Context, next: Next) => Promise<unknown>) {
  return async (ctx: Context, next: Next) => {
    try {
      await middleware(ctx, async () => {});
    } catch (err) {
      if (err instanceof MulterError) {
        if (err.code === 'LIMIT_FILE_SIZE') {
          throw new HttpError('PAYLOAD_TOO_LARGE', 'file: the module is larger than the upload limit', [{ field: 'file' }]);
        }
        throw new HttpError('VALIDATION_ERROR', `${err.field ?? 'body'}: ${err.message}`, [{ field: err.field ?? 'body' }]);
      }
      throw new HttpError('VALIDATION_ERROR', `body: malformed multipart/form-data (${err instanceof Error ? err.message : String(err)})`, [{ field: 'body' }]);
    }
    assertCleanInput(ctx.request.body);
    await next();
  };
}

// GET /agents: the page's JSON (agentJson's for each agent, with `online` false) kept by
// Postgres in each row's list_json (migrations/20261202000100_agent_list_json.ts) and joined into
// one row, sent on as text; test/integration/agents-list.test.ts checks it against agentJson. An
// online agent's flag is set in the text: the first `"online" : false` after its
// `"id" : "<its id>"` is its own key, because a quote inside a JSON string is always escaped, so
// no string value can hold either text unescaped.
const agentListSql = (where: string, limit: string) => `
WITH page AS (
  SELECT id, created_at, list_json, row_number() OVER (ORDER BY created_at DESC, id DESC) AS n
  FROM agents WHERE ${where} ORDER BY created_at DESC, id DESC LIMIT ${limit}::int + 1)
SELECT coalesce(string_agg(list_json, ',' ORDER BY n) FILTER (WHERE n <= ${limit}::int), '') AS data,
       coalesce(string_agg(id::text, ',' ORDER BY n) FILTER (WHERE n <= ${limit}::int), '') AS ids,
       count(*) > ${limit}::int AS more,
       max(${isoSql('created_at')}) FILTER (WHERE n = ${limit}::int) AS last_at,
       max(id::text) FILTER (WHERE n = ${limit}::int) AS last_id
FROM page`;
const OFFLINE = '"online" : false';
const ONLINE = '"online" : true';

/** The page's text with these agents' `online` set (see agentListSql). */
function markOnline(data: string, ids: readonly string[]): string {
  for (const id of ids) {
    const at = data.indexOf(OFFLINE, data.indexOf(`"id" : "${id}"`));
    data = `${data.slice(0, at)}${ONLINE}${data.slice(at + OFFLINE.length)}`;
  }
  return data;
}

async function ownedAgent(db: Knex, agentId: string, userId: string) {
  const agent = await db('agents').where({ id: agentId, owner_id: userId }).whereNull('deleted_at').first('id');
  if (!agent) throw notFound('agent');
}

export function agentsRouter({ models, knex, auth, config, moduleCompiler, binaries, redis }: ApiDeps): Router {
  // Which of these agents are online now (their presence key, renewed by heartbeats, lives).
  async function online(ids: string[]): Promise<Set<string>> {
    if (!ids.length) return new Set();
    const alive = await redis.mget(ids.map(presenceKey));
    return new Set(ids.filter((_, i) => alive[i] !== null));
  }
  // The list's online flags, read from Redis at most once a second per agent by this process:
  // a flag in GET /agents may be up to a second old (GET /agents/:id always asks Redis).
  const presence = new LRUCache<string, boolean>({ max: 10_000, ttl: 1000 });
  async function recentlyOnline(ids: string[]): Promise<Set<string>> {
    const unknown = ids.filter((id) => !presence.has(id));
    if (unknown.length) {
      const live = await online(unknown);
      for (const id of unknown) presence.set(id, live.has(id));
    }
    return new Set(ids.filter((id) => presence.get(id)));
  }

  const r = new Router({ prefix: '/agents' });
  const upload = multer({
    storage: multer.memoryStorage(),
    limits: { fileSize: config.SANDBOX_MAX_UPLOAD_BYTES, files: 1, fields: 20, fieldSize: 64 * 1024 },
  });

  // Register an agent; its API key is in this response and nowhere else, ever — except a
  // replay of this response to a retry with its Idempotency-Key within 24 h, which keeps the
  // key sealed (api/idempotency.ts).
  r.post('/', auth.requireUser, async (ctx) => {
    const body = parse(createAgent, ctx.request.body);
    const userId = currentUserId(ctx);
    await idempotentCreate({ knex, config }, ctx, { caller: { kind: 'user', id: userId }, route: 'POST /agents', request: body }, async (db) => {
      const key = generateApiKey();
      const agent = await db.transaction(async (trx) => {
        const a = await models.Agent.query(trx).insert({ ...body, owner_id: userId });
        await models.ApiKey.query(trx).insert({ agent_id: a.id, key_hash: key.hash, key_prefix: key.prefix });
        return a;
      });
      const body201 = { agent: agentJson(await models.Agent.query(db).findById(agent.id).throwIfNotFound()), api_key: key.key };
      return { status: 201, body: body201, secrets: ['api_key'] };
    });
  });

  // Upload a WASM binary: a new agent, or (with agent_id) a new version of one you own. The
  // module is compiled before anything is stored (in a bounded child process, and before the
  // idempotency transaction, which would otherwise hold a database connection for the whole
  // compile); S3 is written before Postgres, so a row never points at a missing object.
  // Idempotency-Key: the request is its fields and the module's SHA-256; a retry gets the
  // first answer (with the new agent's key, as above).
  r.post('/upload', auth.requireUser, multipart(upload.single('file')), async (ctx) => {
    const userId = currentUserId(ctx);
    const fields = parse(uploadFields, ctx.request.body);
    // capabilities may arrive as JSON text, whose escapes spell what the raw field could not.
    assertCleanInput(fields);
    const file = ctx.request.file;
    if (!file) throw new HttpError('VALIDATION_ERROR', 'file: send the .wasm module as multipart field "file"', [{ field: 'file' }]);
    if (!fields.agent_id && !fields.name) {
      throw new HttpError('VALIDATION_ERROR', 'name: required when creating an agent', [{ field: 'name' }]);
    }
    // A new version only of an agent you own; any other agent_id is the 404 of a missing one
    // (asked before the compile, and again in the transaction).
    if (fields.agent_id) await naming('agent', 'agent_id', ownedAgent(knex, fields.agent_id, userId));
    const compiled = await compileUpload(moduleCompiler, file.buffer);
    const request = { fields, file_sha256: compiled.sha256 };
    await idempotentCreate({ knex, config }, ctx, { caller: { kind: 'user', id: userId }, route: 'POST /agents/upload', request }, (db) =>
      storeUpload(db, userId, fields, file.buffer, compiled),
    );
  });

  async function storeUpload(db: Knex, userId: string, fields: z.infer<typeof uploadFields>, wasm: Buffer, compiled: { sha256: string; size: number }) {
    if (fields.agent_id) await naming('agent', 'agent_id', ownedAgent(db, fields.agent_id, userId));

    const agentId = fields.agent_id ?? randomUUID();
    const stored = await binaries.put(agentId, wasm, compiled.sha256);
    const { agent_id: _ignored, ...meta } = fields;
    const binaryColumns = { binary_url: stored.url, binary_hash: compiled.sha256, binary_size: compiled.size };
    const key = fields.agent_id ? null : generateApiKey();
    await db.transaction(async (trx) => {
      if (key) {
        await trx('agents').insert({
          id: agentId,
          owner_id: userId,
          ...meta,
          capabilities: meta.capabilities ?? [],
          ...binaryColumns,
        });
        await trx('api_keys').insert({ agent_id: agentId, key_hash: key.hash, key_prefix: key.prefix });
      } else {
        await trx('agents').where({ id: agentId }).update({ ...meta, ...binaryColumns });
      }
      const version = meta.version ?? (await trx('agents').where({ id: agentId }).first('version')).version;
      await trx('agent_binaries')
        .insert({ agent_id: agentId, version, sha256: compiled.sha256, size_bytes: compiled.size, url: stored.url, uploaded_by: userId })
        .onConflict(['agent_id', 'sha256'])
        .merge(['version']);
    });
    // Its keys' cached agent (capabilities, price) is stale now.
    if (!key) await auth.forgetAgent(agentId);
    const agent = await models.Agent.query(db).findById(agentId).throwIfNotFound();
    return {
      status: key ? 201 : 200,
      body: {
        agent: agentJson(agent),
        binary: { sha256: compiled.sha256, size_bytes: compiled.size, url: stored.url, version: agent.version },
        ...(key && { api_key: key.key }),
      },
      secrets: key ? ['api_key'] : [],
    };
  }

  // Rotate: a new key for the owner; older keys stay valid until revoked. With an
  // Idempotency-Key a retry gets the same new key (sealed meanwhile), not a second one.
  r.post('/:id/api-keys', auth.requireUser, async (ctx) => {
    const id = pathId(ctx.params.id);
    const userId = currentUserId(ctx);
    await idempotentCreate({ knex, config }, ctx, { caller: { kind: 'user', id: userId }, route: 'POST /agents/:id/api-keys', request: { agent_id: id } }, async (db) => {
      await ownedAgent(db, id, userId);
      const key = generateApiKey();
      await models.ApiKey.query(db).insert({ agent_id: id, key_hash: key.hash, key_prefix: key.prefix });
      return { status: 201, body: { api_key: key.key, key_prefix: key.prefix }, secrets: ['api_key'] };
    });
  });

  // Revoke a key: refused from the next request on, by every API process (api/auth-cache.ts).
  // Revoking a revoked or unknown key, or one of an agent you do not own, is the 404.
  r.delete('/:id/api-keys/:prefix', auth.requireUser, async (ctx) => {
    const { id, prefix } = parse(apiKeyParams, ctx.params);
    await ownedAgent(knex, id, currentUserId(ctx));
    const [revoked] = await knex('api_keys')
      .where({ agent_id: id, key_prefix: prefix })
      .whereNull('revoked_at')
      .update({ revoked_at: knex.fn.now() })
      .returning(['key_prefix', 'revoked_at']);
    if (!revoked) throw notFound('API key');
    await auth.forgetAgent(id);
    ctx.body = { key_prefix: revoked.key_prefix, revoked_at: new Date(revoked.revoked_at).toISOString() };
  });

  // Discovery is public: the marketplace is browsable without an account.
  r.get('/', auth.limitPublicReads, async (ctx) => {
    const q = parse(listAgents, ctx.query);
    // One statement, written out (no query builder): the answer's JSON, newest first, after the cursor.
    const where = ['deleted_at IS NULL'];
    const values: unknown[] = [];
    const bind = (v: unknown) => `$${values.push(v)}`;
    if (q.status) where.push(`status = ${bind(q.status)}`);
    if (q.capability) where.push(`capabilities @> ARRAY[${bind(q.capability)}]::text[]`);
    if (q.cursor) {
      const [at, id] = decodeCursor(q.cursor);
      where.push(`(created_at, id) < (${bind(at)}::timestamptz, ${bind(id)}::uuid)`);
    }
    const limit = bind(q.limit);
    // One prepared statement per combination of filters.
    const name = `agents-list/${q.status ? 's' : ''}${q.capability ? 'c' : ''}${q.cursor ? 'k' : ''}`;
    const [page] = await queryRows<{ data: string; ids: string; more: boolean; last_at: string | null; last_id: string | null }>(knex, {
      name,
      text: agentListSql(where.join(' AND '), limit),
      values,
    });
    // Comma-joined uuids, not a text[]: pg's array parser was a tenth of this route's CPU.
    const ids = page!.ids === '' ? [] : page!.ids.split(',');
    const live = await recentlyOnline(ids);
    const nextCursor = page!.more ? encodeCursor({ created_at: new Date(page!.last_at!), id: page!.last_id! }) : null;
    ctx.type = 'json';
    ctx.body = `{"data":[${markOnline(page!.data, ids.filter((id) => live.has(id)))}],"next_cursor":${JSON.stringify(nextCursor)}}`;
  });

  // Ranked full-text search over name (weight A), capabilities (B) and description (C).
  r.get('/search', auth.limitPublicReads, async (ctx) => {
    const q = parse(searchAgents, ctx.query);
    const rows = await models.Agent.query()
      .select('agents.*', knex.raw("ts_rank_cd(search_vector, websearch_to_tsquery('english', ?)) AS rank", [q.q]))
      .whereRaw("search_vector @@ websearch_to_tsquery('english', ?)", [q.q])
      .where({ status: q.status })
      .whereNull('deleted_at')
      .orderBy([{ column: 'rank', order: 'desc' }, { column: 'created_at', order: 'desc' }])
      .limit(q.limit)
      .offset(q.offset);
    ctx.body = {
      query: q.q,
      data: await online(rows.map((a) => a.id)).then((live) =>
        rows.map((a) => ({ ...agentJson(a, live.has(a.id)), rank: Number((a as unknown as { rank: number }).rank) })),
      ),
    };
  });

  r.get('/:id', auth.limitPublicReads, async (ctx) => {
    // The pattern matches /agents/upload too, which only takes a POST.
    if (ctx.params.id === 'upload') {
      throw new HttpError('METHOD_NOT_ALLOWED', `${ctx.method} is not allowed on ${ctx.path}; see the Allow header`, undefined, { Allow: 'POST' });
    }
    const agent = await models.Agent.query().findById(pathId(ctx.params.id)).whereNull('deleted_at');
    if (!agent) throw notFound('agent');
    ctx.body = agentJson(agent, (await online([agent.id])).has(agent.id));
  });

  // Every binary the agent has shipped, newest first; each stays fetchable at its url.
  r.get('/:id/binaries', auth.limitPublicReads, async (ctx) => {
    const id = pathId(ctx.params.id);
    const agent = await models.Agent.query().findById(id).whereNull('deleted_at');
    if (!agent) throw notFound('agent');
    const rows = await models.AgentBinary.query().where({ agent_id: id }).orderBy('created_at', 'desc');
    ctx.body = { current: agent.binary_hash, data: rows.map(agentBinaryJson) };
  });

  return r;
}
