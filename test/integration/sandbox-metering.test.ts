import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerUser, startPlatform, uploadAgent, type Api, type Platform } from '../support/platform';
import { eventually } from '../support/eventually';
import { exampleAgent, fixture } from '../support/wasm';

// SANDBOX_METERING=epoch: no fuel is counted, yet every run still ends at its deadline and
// has a recorded cost, its CPU time, in the task results.
let platform: Platform;
let api: Api;
beforeAll(async () => {
  platform = await startPlatform({ SANDBOX_METERING: 'epoch', SANDBOX_FUEL: 1_000 });
  api = platform.api;
});
afterAll(async () => platform?.close());

async function runTask(token: string, wasm: Buffer, input: unknown, timeoutSeconds?: number) {
  const up = await uploadAgent(platform.base, token, wasm, { name: 'metered', capabilities: 'text', price_cents: '100' });
  expect(up.status).toBe(201);
  const created = await api('POST', '/api/v1/tasks', { token, body: { agent_id: up.body.agent.id, input, ...(timeoutSeconds && { timeout_seconds: timeoutSeconds }) } });
  expect(created.status).toBe(201);
  expect((await api('POST', `/api/v1/tasks/${created.body.id}/execute`, { token })).status).toBe(202);
  return eventually(
    async () => {
      const res = await api('GET', `/api/v1/tasks/${created.body.id}/results`, { token });
      expect(res.body.status).toMatch(/^(succeeded|failed)$/);
      return res.body;
    },
    { timeout: 60_000, interval: 100 },
  );
}

describe('epoch-only metering', () => {
  it('records the run CPU time as its cost and no fuel figure; a fuel budget does not apply', async () => {
    const user = await registerUser(api);
    // 1,000 units of fuel would stop this agent at once under fuel metering.
    const r = await runTask(user.token, exampleAgent('text-stats'), { intent: 'count', context: { text: 'a b b' } });
    expect(r).toMatchObject({ status: 'succeeded', outcome: 'ok', fuel: null });
    expect(JSON.parse(r.stdout)).toMatchObject({ words: 3 });
    expect(r.cpu_time_us).toBeGreaterThan(0);
    expect(r.attempts[0]).toMatchObject({ fuel: null, cpu_time_us: r.cpu_time_us });
  });

  it('a guest that never stops still ends at its deadline, its CPU time on record', async () => {
    const user = await registerUser(api);
    const r = await runTask(user.token, fixture('infinite-loop'), {}, 5);
    expect(r).toMatchObject({ status: 'failed', outcome: 'timeout', fuel: null });
    // The 5 s were spent computing, less what a busy machine (2 cores, other test files) took.
    expect(r.cpu_time_us).toBeGreaterThan(250_000);
    expect(r.cpu_time_us / 1000).toBeLessThanOrEqual(r.duration_ms + 1);
  });
});
