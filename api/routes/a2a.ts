import Router from '@koa/router';
import type { Knex } from 'knex';
import { z } from 'zod';
import { MESSAGE_TYPES } from '../../domain/statuses';
import { rooms } from '../../lib/events';
import { currentAgent } from '../auth';
import type { ApiDeps } from '../deps';
import { HttpError, notFound } from '../errors';
import { idempotentCreate } from '../idempotency';
import { afterCursor, pageOf } from '../pagination';
import { agentInvolvedIn, referenceNotFound } from '../references';
import { intFromText, parse, pathId, uuid } from '../validate';

export const startConversation = z.strictObject({
  agent_id: uuid,
  contract_id: uuid.optional(),
  subject: z.string().max(200).trim().optional(),
});
export const sendMessage = z.strictObject({
  type: z.enum(MESSAGE_TYPES).default('text'),
  body: z.unknown().refine((v) => v !== undefined && JSON.stringify(v).length <= 64 * 1024, 'required, at most 64 KiB of JSON'),
});
export const pageQuery = z.object({
  limit: intFromText(z.number().int().min(1).max(100)).default(50),
  cursor: z.string().max(200).optional(),
});

const iso = (d: Date | null) => (d ? new Date(d).toISOString() : null);
const conversationJson = (c: Record<string, any>) => ({
  id: c.id,
  initiator_agent_id: c.initiator_agent_id,
  responder_agent_id: c.responder_agent_id,
  contract_id: c.contract_id,
  subject: c.subject,
  status: c.status,
  created_at: iso(c.created_at),
  closed_at: iso(c.closed_at),
});
const messageJson = (m: Record<string, any>) => ({
  id: m.id,
  conversation_id: m.conversation_id,
  sender_agent_id: m.sender_agent_id,
  type: m.type,
  body: m.body,
  created_at: iso(m.created_at),
});

// Agent-to-agent conversations: only the two participants read or write; a closed
// conversation takes no new messages. Messages are delivered live to the other agent.
export function a2aRouter({ knex, auth, events, config }: ApiDeps): Router {
  const r = new Router({ prefix: '/a2a/conversations' });
  r.use(auth.requireAgent);

  async function participantOf(conversationId: string, agentId: string) {
    const c = await knex('a2a_conversations')
      .where({ id: conversationId })
      .whereNull('deleted_at')
      .andWhere((q) => q.where({ initiator_agent_id: agentId }).orWhere({ responder_agent_id: agentId }))
      .first();
    if (!c) throw notFound('conversation');
    return c;
  }
  const otherOf = (c: Record<string, any>, agentId: string) => (c.initiator_agent_id === agentId ? c.responder_agent_id : c.initiator_agent_id);

  // Idempotency-Key (the agent's own): a retry gets the first 201 and the same conversation.
  r.post('/', async (ctx) => {
    const me = currentAgent(ctx);
    const body = parse(startConversation, ctx.request.body);
    if (body.agent_id === me.id) throw new HttpError('VALIDATION_ERROR', 'agent_id: cannot converse with yourself', [{ field: 'agent_id' }]);
    const caller = { kind: 'agent' as const, id: me.id };
    await idempotentCreate({ knex, config }, ctx, { caller, route: 'POST /a2a/conversations', request: body }, (db) => startWith(db, me.id, body));
  });

  async function startWith(db: Knex, myId: string, body: z.infer<typeof startConversation>) {
    const other = await db('agents').where({ id: body.agent_id }).whereNull('deleted_at').first('id');
    if (!other) throw referenceNotFound('agent', 'agent_id');
    // A conversation about a contract: the caller must take part in it (a bid, or the award);
    // any other contract id, existing or not, is the same 404. The other agent need not: asking
    // a specialist, or a bidder talking to another about the work, is what A2A is for, and the
    // conversation shows it only the id, never the contract (which it cannot read).
    if (body.contract_id && !(await agentInvolvedIn(db, body.contract_id, myId))) {
      throw referenceNotFound('contract', 'contract_id');
    }
    const [c] = await db('a2a_conversations')
      .insert({ initiator_agent_id: myId, responder_agent_id: body.agent_id, contract_id: body.contract_id ?? null, subject: body.subject ?? null })
      .returning('*');
    return { status: 201, body: conversationJson(c) };
  }

  r.get('/', async (ctx) => {
    const me = currentAgent(ctx);
    const rows = await knex('a2a_conversations')
      .whereNull('deleted_at')
      .andWhere((q) => q.where({ initiator_agent_id: me.id }).orWhere({ responder_agent_id: me.id }))
      .orderBy('updated_at', 'desc')
      .limit(100);
    ctx.body = { data: rows.map(conversationJson) };
  });

  // Idempotency-Key: a retry gets the first 201 and the message is sent (and relayed) once.
  r.post('/:id/messages', async (ctx) => {
    const me = currentAgent(ctx);
    const id = pathId(ctx.params.id);
    const c = await participantOf(id, me.id);
    const body = parse(sendMessage, ctx.request.body);
    const caller = { kind: 'agent' as const, id: me.id };
    await idempotentCreate({ knex, config }, ctx, { caller, route: 'POST /a2a/conversations/:id/messages', request: { conversation_id: id, body } }, async (db) => {
      // Read again inside the key's transaction: closed since? (A replay is the first answer.)
      if ((await db('a2a_conversations').where({ id: c.id }).first('status')).status === 'closed') {
        throw new HttpError('INVALID_STATE', 'the conversation is closed');
      }
      const [m] = await db('a2a_messages')
        .insert({ conversation_id: c.id, sender_agent_id: me.id, type: body.type, body: JSON.stringify(body.body) })
        .returning('*');
      await db('a2a_conversations').where({ id: c.id }).update({ updated_at: db.fn.now() });
      const json = messageJson(m);
      // Published once the message has committed, so the other agent can read it when told.
      return { status: 201, body: json, afterCommit: () => events.publish({ type: 'a2a:message', rooms: [rooms.agent(otherOf(c, me.id))], data: json }) };
    });
  });

  // Oldest first, so a client pages forward through the exchange.
  r.get('/:id/messages', async (ctx) => {
    const me = currentAgent(ctx);
    const c = await participantOf(pathId(ctx.params.id), me.id);
    const q = parse(pageQuery, ctx.query);
    let query = knex('a2a_messages').where({ conversation_id: c.id }).orderBy([{ column: 'created_at' }, { column: 'id' }]).limit(q.limit + 1);
    query = afterCursor(query, q.cursor, { order: 'asc' });
    const { page, next_cursor } = pageOf(await query, q.limit);
    ctx.body = { data: page.map(messageJson), next_cursor };
  });

  r.post('/:id/close', async (ctx) => {
    const me = currentAgent(ctx);
    const c = await participantOf(pathId(ctx.params.id), me.id);
    if (c.status !== 'closed') {
      await knex('a2a_conversations').where({ id: c.id }).update({ status: 'closed', closed_at: knex.fn.now() });
      await events.publish({ type: 'a2a:closed', rooms: [rooms.agent(otherOf(c, me.id))], data: { conversation_id: c.id, closed_by: me.id } });
    }
    ctx.body = conversationJson(await knex('a2a_conversations').where({ id: c.id }).first());
  });

  return r;
}
