import Router from '@koa/router';
import type { Context, Next } from 'koa';
import { recordBody, type AuditRecordBody, type StoredAuditRecord } from '../../domain/audit';
import { verifyContractChain } from '../../lib/audit';
import { currentAgent, currentUserId, type AuthState } from '../auth';
import { findContract } from '../contracts-store';
import type { ApiDeps } from '../deps';
import { HttpError, notFound } from '../errors';
import { pathId } from '../validate';

// GET /contracts/:id/audit: the contract's audit chain, checked, for its owner (a user's JWT) or
// for an agent that was awarded it (its API key). Anyone else gets 404, as for a missing
// contract. Mounted before the contracts router, whose routes take users only.
export function auditRouter(deps: ApiDeps): Router {
  const { knex, auth } = deps;
  const r = new Router({ prefix: '/contracts' });

  // A user's bearer token when there is one, else an agent's key (a request with both is a user's).
  const userOrAgent = (ctx: Context, next: Next) => {
    if (!ctx.get('Authorization') && !ctx.get('X-API-Key')) {
      throw new HttpError('UNAUTHENTICATED', "send Authorization: Bearer <token> (the contract's owner) or X-API-Key: <agent key> (an agent it was awarded to)");
    }
    return ctx.get('Authorization') ? auth.requireUser(ctx, next) : auth.requireAgent(ctx, next);
  };

  r.get('/:id/audit', userOrAgent, async (ctx) => {
    const contract = await findContract(deps, pathId(ctx.params.id));
    const asUser = (ctx.state as AuthState).userId !== undefined;
    if (asUser && contract.user_id !== currentUserId(ctx)) throw notFound('contract');
    const { records, verdict } = await verifyContractChain(knex, contract.id);
    const bodies = records.map(bodyOrNull);
    if (!asUser) {
      // The agent awarded now, or in an earlier round (a re-award keeps its runs and delivery in the chain).
      const agentId = currentAgent(ctx).id;
      const awarded = contract.awarded_agent_id === agentId || bodies.some((b) => b?.kind === 'awarded' && b.facts.agent_id === agentId);
      if (!awarded) throw notFound('contract');
    }
    ctx.body = {
      contract_id: contract.id,
      records: records.map((row, i) => ({
        seq: row.seq,
        kind: row.kind,
        at: bodies[i]?.at ?? null,
        facts: bodies[i]?.facts ?? null,
        prev_hash: row.prev_hash,
        hash: row.hash,
      })),
      head_hash: verdict.head_hash,
      verified: verdict.verified,
      broken_at: verdict.broken_at && {
        seq: verdict.broken_at.seq,
        kind: verdict.broken_at.kind,
        reason: verdict.broken_at.reason,
        expected: verdict.broken_at.expected,
        stored: verdict.broken_at.stored,
        message: verdict.broken_at.message,
      },
    };
  });

  return r;
}

/** The hashed record, or null when what is stored is not one (verification says so too). */
function bodyOrNull(row: StoredAuditRecord): AuditRecordBody | null {
  try {
    const body = recordBody(row);
    return body && typeof body === 'object' && typeof body.at === 'string' && body.facts && typeof body.facts === 'object' && !Array.isArray(body.facts) ? body : null;
  } catch {
    return null;
  }
}
