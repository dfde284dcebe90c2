import Router from '@koa/router';
import { z } from 'zod';
import { currentUserId } from '../auth';
import { generateApiKey } from '../credentials';
import type { ApiDeps } from '../deps';
import { notFound } from '../errors';
import { agentJson } from '../serializers';
import { capabilities, cents, parse, uuid } from '../validate';

const createAgent = z.strictObject({
  name: z.string().trim().min(1).max(100),
  description: z.string().max(5000).default(''),
  version: z.string().trim().min(1).max(32).default('1.0.0'),
  capabilities: capabilities.default([]),
  price_cents: cents.default(0),
});

export function agentsRouter({ models, knex, auth }: ApiDeps): Router {
  const r = new Router({ prefix: '/agents' });

  // Register an agent; its API key is in this response and nowhere else, ever.
  r.post('/', auth.requireUser, async (ctx) => {
    const body = parse(createAgent, ctx.request.body);
    const key = generateApiKey();
    const agent = await knex.transaction(async (trx) => {
      const a = await models.Agent.query(trx).insert({ ...body, owner_id: currentUserId(ctx) });
      await models.ApiKey.query(trx).insert({ agent_id: a.id, key_hash: key.hash, key_prefix: key.prefix });
      return a;
    });
    ctx.status = 201;
    ctx.body = { agent: agentJson(await models.Agent.query().findById(agent.id).throwIfNotFound()), api_key: key.key };
  });

  // Rotate: a new key for the owner; older keys stay valid until revoked.
  r.post('/:id/api-keys', auth.requireUser, async (ctx) => {
    const id = parse(uuid, ctx.params.id);
    const agent = await models.Agent.query().findById(id).where({ owner_id: currentUserId(ctx) }).whereNull('deleted_at');
    if (!agent) throw notFound('agent');
    const key = generateApiKey();
    await models.ApiKey.query().insert({ agent_id: id, key_hash: key.hash, key_prefix: key.prefix });
    ctx.status = 201;
    ctx.body = { api_key: key.key, key_prefix: key.prefix };
  });

  r.get('/:id', async (ctx) => {
    const agent = await models.Agent.query().findById(parse(uuid, ctx.params.id)).whereNull('deleted_at');
    if (!agent) throw notFound('agent');
    ctx.body = agentJson(agent);
  });

  return r;
}
