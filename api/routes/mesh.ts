import Router from '@koa/router';
import { z } from 'zod';
import { storeBids } from '../../db/bids';
import { missingCapabilities } from '../../domain/capabilities';
import { deliver, submitBid } from '../../workflows/contract-messages';
import { currentAgent } from '../auth';
import { findContract, workflowIdFor } from '../contracts-store';
import type { ApiDeps } from '../deps';
import { executeContractUpdate, workflowGone } from '../contract-updates';
import { HttpError, unavailable } from '../errors';
import { agentInvolvedIn, naming, referenceNotFound } from '../references';
import { acceptedBidJson, openContractJson } from '../serializers';
import { naturalUpdateId } from '../update-ids';
import { intFromText, parse } from '../validate';
import { bidBody, deliverBody } from './contract-schemas';

export const openQuery = z.strictObject({ limit: intFromText(z.number().int().min(1).max(100)).default(20) });

// The agents' side of the market: find open work, bid, deliver. Authenticated by X-API-Key.
export function meshRouter(deps: ApiDeps): Router {
  const { models, knex, temporal, auth } = deps;
  const r = new Router({ prefix: '/mesh' });
  r.use(auth.requireAgent);

  // Open contracts this agent is capable of (every required capability, as in
  // domain/capabilities.ts, here in SQL), soonest deadline first.
  r.get('/contracts', async (ctx) => {
    const q = parse(openQuery, ctx.query);
    const agent = currentAgent(ctx);
    const rows = await models.Contract.query()
      .where({ status: 'BIDDING' })
      .where('bidding_deadline', '>', new Date())
      .whereNull('deleted_at')
      .whereRaw('required_capabilities <@ ?::text[]', [agent.capabilities])
      .orderBy('bidding_deadline')
      .limit(q.limit);
    ctx.body = { data: rows.map(openContractJson) };
  });

  // A contract whose workflow has closed answers as its row says: missing (404), not this
  // agent's business (as below), else 409 CONTRACT_CLOSED (api/errors.ts). The row is read only
  // here, on the way to a refusal; a contract in progress is answered by its workflow alone.
  async function closedContract(contractId: string, agent: { id: string; capabilities: string[] }, forDelivery: boolean): Promise<never> {
    const contract = await naming('contract', 'contract_id', findContract(deps, contractId));
    if (forDelivery && contract.awarded_agent_id !== agent.id) {
      if (!(await agentInvolvedIn(knex, contract.id, agent.id))) throw referenceNotFound('contract', 'contract_id');
      throw new HttpError('NOT_AWARDED_AGENT', 'only the awarded agent may deliver');
    }
    const missing = forDelivery ? [] : missingCapabilities(agent.capabilities, contract.required_capabilities);
    if (missing.length) throw new HttpError('CAPABILITY_MISMATCH', `agent lacks required capabilities: ${missing.join(', ')}`);
    throw new HttpError('CONTRACT_CLOSED', 'this contract is closed');
  }
  const explain = (contractId: string, agent: { id: string; capabilities: string[] }, forDelivery: boolean) => async (err: unknown): Promise<never> => {
    if (workflowGone(err)) await closedContract(contractId, agent, forDelivery);
    throw err;
  };

  // Any agent may bid on any contract: the market is open, and capability, price and the
  // bidding window give their own answers; only a contract that does not exist is a 404.
  // The workflow decides all of them (its bid validator, with the agent's capabilities).
  r.post('/bid', async (ctx) => {
    const body = parse(bidBody, ctx.request.body);
    const agent = currentAgent(ctx);
    const contract = { id: body.contract_id };
    const bidRequest = {
      agentId: agent.id,
      priceCents: body.price_cents,
      etaSeconds: body.eta_seconds,
      confidence: body.confidence,
      message: body.message,
      replace: body.replace,
      capabilities: agent.capabilities,
    };
    const bid = await executeContractUpdate(deps, ctx, temporal.workflow.getHandle(workflowIdFor(contract.id)), submitBid, [bidRequest], {
      caller: { kind: 'agent', id: agent.id },
      contractId: contract.id,
      route: '/mesh/bid',
      body,
      naturalId: (hash) => naturalUpdateId.bid(agent.id, hash),
      explain: explain(contract.id, agent, false),
    });
    // The workflow took the bid; its row is written before the answer, so GET shows every bid
    // answered. A retry of the same request (or Idempotency-Key) gets the same bid and writes it.
    await storeBids(knex, contract.id, [bid]).catch((err: unknown) => {
      deps.log.warn({ err, contract_id: contract.id }, 'bid taken but its row not written');
      throw unavailable('the contract took the bid but it could not be stored yet; send the same request again to confirm it');
    });
    ctx.status = bid.revision === 1 ? 201 : 200;
    ctx.body = { status: 'accepted', bid: acceptedBidJson(contract.id, bid) };
  });

  // Only the awarded agent delivers. A bidder that lost is told so (403); an agent that never
  // took part gets the 404 of a contract that does not exist. The workflow's deliver validator
  // decides, from the award it holds — so the awarded agent may deliver as soon as it hears of
  // its award, before the contract's row shows it.
  r.post('/deliver', async (ctx) => {
    const body = parse(deliverBody, ctx.request.body);
    const agent = currentAgent(ctx);
    const contract = { id: body.contract_id };
    const d = await executeContractUpdate(deps, ctx, temporal.workflow.getHandle(workflowIdFor(contract.id)), deliver, [{ agentId: agent.id, output: body.output }], {
      caller: { kind: 'agent', id: agent.id },
      contractId: contract.id,
      route: '/mesh/deliver',
      body,
      naturalId: (hash) => naturalUpdateId.deliver(agent.id, hash),
      explain: explain(contract.id, agent, true),
    });
    ctx.status = 201;
    ctx.body = { delivery: { id: d.deliveryId, contract_id: contract.id, attempt: d.attempt, delivered_at: d.deliveredAt } };
  });

  return r;
}
