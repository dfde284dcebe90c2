import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestHash } from '../../api/idempotency';
import { postLedger } from '../../db/ledger';
import { captureMovement, settlementMovement } from '../../domain/ledger';
import { postContract, registerAgent, registerUser, startPlatform, waitForContract, type Api, type Platform } from '../support/platform';

// Two rules through HTTP. Idempotency-Key on withdrawals is Stripe's: the same key and body
// replay the first answer, the same key with another body is a 422 and moves no money. And an
// id inside a request body is checked like an id in a path: what the caller may not use
// answers exactly as what does not exist (404 naming the field).
let platform: Platform;
let api: Api;
let knex: Knex;
beforeAll(async () => {
  platform = await startPlatform();
  api = platform.api;
  knex = platform.deps.knex;
});
afterAll(async () => platform?.close());

describe('request hash', () => {
  it('ignores key order and spacing, and nothing else', () => {
    expect(requestHash({ a: 1, b: [1, { d: 2, c: 3 }] })).toBe(requestHash(JSON.parse('{ "b": [1, {"c": 3, "d": 2}], "a": 1 }')));
    expect(requestHash({ a: 1, b: [1, 2] })).not.toBe(requestHash({ a: 1, b: [2, 1] }));
    expect(requestHash({ amount_cents: 300 })).not.toBe(requestHash({ amount_cents: 301 }));
    expect(requestHash({ amount_cents: 300 })).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('withdrawal idempotency', () => {
  // An owner with `cents` earned on a real contract row and a payout account.
  async function ownerWithBalance(cents: number) {
    const owner = await registerUser(api, 'Owner');
    const user = await registerUser(api);
    const contractId = await postContract(api, user.token, { reward_cents: cents });
    await waitForContract(api, user.token, contractId, 'BIDDING');
    await knex.transaction(async (trx) => {
      await postLedger(trx, { idempotencyKey: `seed/${contractId}/capture`, kind: 'capture', description: 'seed', currency: 'usd', contractId, lines: captureMovement(contractId, cents) });
      await postLedger(trx, { idempotencyKey: `seed/${contractId}/settle`, kind: 'settlement', description: 'seed', currency: 'usd', contractId, lines: settlementMovement(contractId, owner.id, cents, 0) });
    });
    expect((await api('POST', '/api/v1/wallet/payout-account', { token: owner.token })).status).toBe(201);
    return owner;
  }

  async function withdraw(token: string, key: string, body: unknown) {
    const res = await fetch(`${platform.base}/api/v1/wallet/withdrawals`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', 'Idempotency-Key': key },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as any, replayed: res.headers.get('idempotent-replayed') };
  }

  const withdrawalsOf = (userId: string) => knex('withdrawals').where({ user_id: userId }).select('id', 'amount_cents', 'request_hash');
  const balanceOf = async (token: string) => (await api('GET', '/api/v1/wallet', { token })).body.balance_cents;
  // The withdrawal as the first answer described it; its status moves on as it is paid out.
  const sameWithdrawal = (b: any) => ({ id: b.id, amount_cents: b.amount_cents, currency: b.currency, payout_account: b.payout_account, created_at: b.created_at });

  it('the same key and the same body answer as the first request did, once', async () => {
    const owner = await ownerWithBalance(1_000);
    const key = `same-${randomUUID()}`;
    const first = await withdraw(owner.token, key, { amount_cents: 300 });
    expect(first.status).toBe(202);
    expect(first.replayed).toBeNull();
    // The same request, spaced differently on the wire.
    const again = await withdraw(owner.token, key, '{ "amount_cents" : 300 }');
    expect(again.status).toBe(202);
    expect(again.replayed).toBe('true');
    expect(sameWithdrawal(again.body)).toEqual(sameWithdrawal(first.body));
    expect(await withdrawalsOf(owner.id)).toEqual([{ id: first.body.id, amount_cents: 300, request_hash: requestHash({ amount_cents: 300 }) }]);
    expect(await balanceOf(owner.token)).toBe(700);
  });

  it('the same key with a different body is a 422 IDEMPOTENCY_KEY_REUSED and moves nothing', async () => {
    const owner = await ownerWithBalance(1_000);
    const key = `reuse-${randomUUID()}`;
    const first = await withdraw(owner.token, key, { amount_cents: 300 });
    expect(first.status).toBe(202);
    const other = await withdraw(owner.token, key, { amount_cents: 400 });
    expect(other.status).toBe(422);
    expect(other.body.error).toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED', details: [{ field: 'Idempotency-Key' }] });
    expect(other.body.error.message).toMatch(/different request/);
    expect(await withdrawalsOf(owner.id)).toHaveLength(1);
    expect(await balanceOf(owner.token)).toBe(700);
    // The first request still replays.
    expect((await withdraw(owner.token, key, { amount_cents: 300 })).body.id).toBe(first.body.id);
  });

  it('concurrent requests with one key create one withdrawal', async () => {
    const owner = await ownerWithBalance(1_000);
    const same = `race-same-${randomUUID()}`;
    const twins = await Promise.all(Array.from({ length: 5 }, () => withdraw(owner.token, same, { amount_cents: 100 })));
    expect(twins.map((r) => r.status)).toEqual([202, 202, 202, 202, 202]);
    expect(new Set(twins.map((r) => r.body.id)).size).toBe(1);
    expect(twins.filter((r) => r.replayed === 'true')).toHaveLength(4);

    const mixed = `race-mixed-${randomUUID()}`;
    const rivals = await Promise.all([withdraw(owner.token, mixed, { amount_cents: 200 }), withdraw(owner.token, mixed, { amount_cents: 250 })]);
    expect(rivals.map((r) => r.status).sort()).toEqual([202, 422]);
    expect(await withdrawalsOf(owner.id)).toHaveLength(2);
    const won = rivals.find((r) => r.status === 202)!.body.amount_cents;
    expect(await balanceOf(owner.token)).toBe(1_000 - 100 - won);
  });

  it('a refused request stores nothing, so its key can be used again', async () => {
    const owner = await ownerWithBalance(1_000);
    const key = `refused-${randomUUID()}`;
    expect((await withdraw(owner.token, key, { amount_cents: 5_000 })).body.error.code).toBe('INSUFFICIENT_FUNDS');
    expect((await withdraw(owner.token, key, { amount_cents: 500 })).status).toBe(202);
  });
});

describe('ids in request bodies', () => {
  const RANDOM = '6f1c1d7e-1d1a-4c56-9f39-0c4a3c6e3b11';

  // A contract in progress: `winner` bid and was awarded, `loser` bid and lost; `outsider` and
  // `specialist` never took part.
  async function contractWithBidders() {
    const user = await registerUser(api);
    const owner = await registerUser(api, 'Owner');
    const [winner, loser, outsider, specialist] = [
      await registerAgent(api, owner.token),
      await registerAgent(api, owner.token),
      await registerAgent(api, owner.token),
      await registerAgent(api, owner.token),
    ];
    const id = await postContract(api, user.token, { required_capabilities: ['pdf'] });
    const bid = (apiKey: string, price_cents: number) =>
      api('POST', '/api/v1/mesh/bid', { apiKey, body: { contract_id: id, price_cents, eta_seconds: 600, confidence: 0.9 } });
    expect((await bid(winner.apiKey, 1_000)).status).toBe(201);
    expect((await bid(loser.apiKey, 4_900)).status).toBe(201);
    await api('POST', `/api/v1/contracts/${id}/close-bidding`, { token: user.token });
    await waitForContract(api, user.token, id, 'IN_PROGRESS');
    return { user, id, winner, loser, outsider, specialist };
  }

  it('POST /a2a/conversations: contract_id only for an agent that took part in the contract', async () => {
    const c = await contractWithBidders();
    const start = (apiKey: string, body: Record<string, unknown>) => api('POST', '/api/v1/a2a/conversations', { apiKey, body });

    const foreign = await start(c.outsider.apiKey, { agent_id: c.winner.id, contract_id: c.id });
    const missing = await start(c.outsider.apiKey, { agent_id: c.winner.id, contract_id: RANDOM });
    expect(foreign.status).toBe(404);
    expect(foreign.body).toEqual({ error: { code: 'NOT_FOUND', message: 'contract not found', details: [{ field: 'contract_id' }] } });
    expect(foreign.body).toEqual(missing.body);
    expect(await knex('a2a_conversations').where({ initiator_agent_id: c.outsider.id })).toEqual([]);

    // A bidder (here the one that lost) may talk about it, also with an agent outside it.
    const bidder = await start(c.loser.apiKey, { agent_id: c.specialist.id, contract_id: c.id, subject: 'a second opinion' });
    expect(bidder.status).toBe(201);
    expect(bidder.body).toMatchObject({ initiator_agent_id: c.loser.id, responder_agent_id: c.specialist.id, contract_id: c.id });
    expect((await start(c.winner.apiKey, { agent_id: c.loser.id, contract_id: c.id })).status).toBe(201);

    const noAgent = await start(c.winner.apiKey, { agent_id: RANDOM });
    expect(noAgent.status).toBe(404);
    expect(noAgent.body.error).toMatchObject({ code: 'NOT_FOUND', details: [{ field: 'agent_id' }] });
    await api('POST', `/api/v1/contracts/${c.id}/cancel`, { token: c.user.token });
  });

  it('POST /mesh/deliver and /mesh/bid: an agent outside the contract gets the 404 of a missing one', async () => {
    const c = await contractWithBidders();
    const deliver = (apiKey: string, contract_id: string) => api('POST', '/api/v1/mesh/deliver', { apiKey, body: { contract_id, output: 'x' } });
    const outsider = await deliver(c.outsider.apiKey, c.id);
    expect(outsider.status).toBe(404);
    expect(outsider.body).toEqual({ error: { code: 'NOT_FOUND', message: 'contract not found', details: [{ field: 'contract_id' }] } });
    expect(outsider.body).toEqual((await deliver(c.outsider.apiKey, RANDOM)).body);
    // A bidder that lost already knows the contract: it is told why.
    const loser = await deliver(c.loser.apiKey, c.id);
    expect(loser.status).toBe(403);
    expect(loser.body.error.code).toBe('NOT_AWARDED_AGENT');

    const bidMissing = await api('POST', '/api/v1/mesh/bid', { apiKey: c.outsider.apiKey, body: { contract_id: RANDOM, price_cents: 1, eta_seconds: 1, confidence: 1 } });
    expect(bidMissing.status).toBe(404);
    expect(bidMissing.body).toEqual(outsider.body);
    await api('POST', `/api/v1/contracts/${c.id}/cancel`, { token: c.user.token });
  });

  it('POST /tasks: any active agent; an inactive or deleted one is a 404 unless it is yours', async () => {
    const owner = await registerUser(api, 'Owner');
    const user = await registerUser(api);
    const inactive = await registerAgent(api, owner.token);
    const deleted = await registerAgent(api, owner.token);
    await knex('agents').where({ id: inactive.id }).update({ status: 'inactive' });
    await knex('agents').where({ id: deleted.id }).update({ deleted_at: knex.fn.now() });
    const task = (token: string, agent_id: string) => api('POST', '/api/v1/tasks', { token, body: { agent_id, input: {} } });

    const missing = await task(user.token, RANDOM);
    expect(missing.status).toBe(404);
    expect(missing.body).toEqual({ error: { code: 'NOT_FOUND', message: 'agent not found', details: [{ field: 'agent_id' }] } });
    expect((await task(user.token, inactive.id)).body).toEqual(missing.body);
    expect((await task(user.token, deleted.id)).body).toEqual(missing.body);
    expect((await task(owner.token, deleted.id)).body).toEqual(missing.body);
    const own = await task(owner.token, inactive.id);
    expect(own.status).toBe(403);
    expect(own.body.error).toMatchObject({ code: 'AGENT_INACTIVE', details: [{ field: 'agent_id' }] });
    expect(await knex('tasks').whereIn('agent_id', [inactive.id, deleted.id])).toEqual([]);
  });

  it('POST /agents/upload: agent_id only for an agent you own', async () => {
    const owner = await registerUser(api, 'Owner');
    const mallory = await registerUser(api, 'Mallory');
    const agent = await registerAgent(api, owner.token);
    const upload = async (agent_id: string) => {
      const form = new FormData();
      form.append('agent_id', agent_id);
      form.append('file', new Blob([new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0])], { type: 'application/wasm' }), 'agent.wasm');
      const res = await fetch(`${platform.base}/api/v1/agents/upload`, { method: 'POST', headers: { Authorization: `Bearer ${mallory.token}` }, body: form });
      return { status: res.status, body: (await res.json()) as any };
    };
    const foreign = await upload(agent.id);
    expect(foreign.status).toBe(404);
    expect(foreign.body).toEqual({ error: { code: 'NOT_FOUND', message: 'agent not found', details: [{ field: 'agent_id' }] } });
    expect(foreign.body).toEqual((await upload(RANDOM)).body);
    expect((await knex('agents').where({ id: agent.id }).first('binary_hash')).binary_hash).toBeNull();
  });

  it('POST /payments/methods: a PaymentMethod another user saved is a 404; ids are capped at 255 characters', async () => {
    const alice = await registerUser(api, 'Alice');
    const mallory = await registerUser(api, 'Mallory');
    const pm = `pm_ref${randomUUID().replace(/-/g, '')}`;
    const attach = (token: string, payment_method: string) => api('POST', '/api/v1/payments/methods', { token, body: { payment_method } });

    expect((await attach(alice.token, pm)).status).toBe(201);
    const stolen = await attach(mallory.token, pm);
    expect(stolen.status).toBe(404);
    expect(stolen.body).toEqual({ error: { code: 'NOT_FOUND', message: 'payment method not found', details: [{ field: 'payment_method' }] } });
    expect((await api('GET', '/api/v1/payments/methods', { token: mallory.token })).body.data).toEqual([]);
    expect(await knex('payment_methods').where({ stripe_payment_method_id: pm }).select('user_id')).toEqual([{ user_id: alice.id }]);
    // Stripe's test shortcuts are no one's: every user may attach pm_card_visa.
    expect((await attach(alice.token, 'pm_card_visa')).status).toBe(201);
    expect((await attach(mallory.token, 'pm_card_visa')).status).toBe(201);

    const huge = await attach(mallory.token, `pm_${'a'.repeat(5_000)}`);
    expect(huge.status).toBe(400);
    expect(huge.body.error).toMatchObject({ code: 'VALIDATION_ERROR', details: [{ field: 'payment_method' }] });
    expect((await attach(mallory.token, `pm_${'a'.repeat(253)}`)).body.error.details[0].field).toBe('payment_method');
    expect(await knex('payment_methods').where({ user_id: mallory.id }).whereRaw('length(stripe_payment_method_id) > 255')).toEqual([]);
  });
});
