import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../api/app';
import { createKnex } from '../../db/knex';
import { createModels } from '../../db/models';
import { apiClient, registerUser, startPlatform, waitForContract, type Platform } from '../support/platform';

// A create retried with its Idempotency-Key is the same contract, posted (and later charged)
// once; and a database that is gone for a moment is a 503 to retry, never a 500.
let platform: Platform;
beforeAll(async () => {
  platform = await startPlatform();
});
afterAll(async () => {
  await platform?.close();
});

const body = (overrides: Record<string, unknown> = {}) => ({ intent: 'Summarise these 40 PDFs', reward_cents: 5_000, bidding_window_seconds: 300, ...overrides });
const contractsOf = async (userId: string) => Number((await platform.deps.knex('contracts').where({ user_id: userId }).count('* as count'))[0]!.count);

describe('POST /contracts with an Idempotency-Key', () => {
  it('answers a retry with the first contract, and refuses the key for another body', async () => {
    const { api } = platform;
    const user = await registerUser(api);
    const key = randomUUID();
    const first = await api('POST', '/api/v1/contracts', { token: user.token, body: body(), headers: { 'Idempotency-Key': key } });
    expect(first.status).toBe(201);
    const again = await api('POST', '/api/v1/contracts', { token: user.token, body: body(), headers: { 'Idempotency-Key': key } });
    expect([again.status, again.body]).toEqual([201, first.body]);
    expect(await contractsOf(user.id)).toBe(1);

    const other = await api('POST', '/api/v1/contracts', { token: user.token, body: body({ reward_cents: 6_000 }), headers: { 'Idempotency-Key': key } });
    expect([other.status, other.body.error.code]).toEqual([422, 'IDEMPOTENCY_KEY_REUSED']);
    expect(await contractsOf(user.id)).toBe(1);

    // Without a key, two posts are two contracts.
    await api('POST', '/api/v1/contracts', { token: user.token, body: body() });
    await api('POST', '/api/v1/contracts', { token: user.token, body: body() });
    expect(await contractsOf(user.id)).toBe(3);
  });

  it('answers a retry that comes after the contract closed from its row, without a second run', async () => {
    const { api } = platform;
    const user = await registerUser(api);
    const key = randomUUID();
    const first = await api('POST', '/api/v1/contracts', { token: user.token, body: body({ bidding_window_seconds: 1 }), headers: { 'Idempotency-Key': key } });
    expect(first.status).toBe(201);
    await waitForContract(api, user.token, first.body.id, 'EXPIRED');
    const again = await api('POST', '/api/v1/contracts', { token: user.token, body: body({ bidding_window_seconds: 1 }), headers: { 'Idempotency-Key': key } });
    expect([again.status, again.body]).toEqual([201, first.body]);
    expect((await api('GET', `/api/v1/contracts/${first.body.id}`, { token: user.token })).body.status).toBe('EXPIRED');
  });
});

describe('a database that is gone for a moment', () => {
  it('is a 503 with Retry-After, not a 500', async () => {
    const { api } = platform;
    const user = await registerUser(api);
    // A port where nothing listens: the pool's connection attempt is refused.
    const gone = createServer().listen(0, '127.0.0.1');
    await new Promise((r) => gone.once('listening', r));
    const port = (gone.address() as AddressInfo).port;
    await new Promise((r) => gone.close(r));
    const url = new URL(platform.config.DATABASE_URL);
    url.port = String(port);
    const knex = createKnex({ ...platform.config, DATABASE_URL: url.toString() });
    const app = createApp({ ...platform.deps, knex, models: createModels(knex) });
    const server: Server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    try {
      const down = apiClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
      const res = await down('GET', `/api/v1/contracts/${randomUUID()}`, { token: user.token });
      expect([res.status, res.body.error.code]).toEqual([503, 'UNAVAILABLE']);
      expect(Number(res.headers.get('Retry-After'))).toBeGreaterThan(0);
    } finally {
      await new Promise((r) => server.close(r));
      await knex.destroy();
    }
  });
});
