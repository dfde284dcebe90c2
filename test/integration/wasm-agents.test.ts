import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { temporal } from '@temporalio/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../lib/binary-store';
import { createS3 } from '../../lib/s3';
import {
  postContract,
  registerAgent,
  registerUser,
  startPlatform,
  uploadAgent,
  waitForContract,
  type Api,
  type Platform,
} from '../support/platform';
import { eventually } from '../support/eventually';
import { exampleAgent, fixture, withNonce } from '../support/wasm';

// Agents as WASM binaries, end to end: upload to SeaweedFS, discovery in Postgres, runs on
// the sandbox worker through Temporal, results in task_results.
let platform: Platform;
let api: Api;
beforeAll(async () => {
  platform = await startPlatform({ SANDBOX_MAX_UPLOAD_BYTES: 256 * 1024, SANDBOX_FUEL: 50_000_000 });
  api = platform.api;
});
afterAll(async () => platform?.close());

const upload = (token: string, wasm: Uint8Array, fields: Record<string, string> = {}) =>
  uploadAgent(platform.base, token, wasm, fields);

async function uploaded(token: string, wasm: Uint8Array, fields: Record<string, string> = {}) {
  const res = await upload(token, wasm, { name: 'text stats', capabilities: 'text,stats', price_cents: '1500', ...fields });
  expect(res.status).toBe(201);
  return res.body as { agent: { id: string }; api_key: string; binary: { sha256: string; url: string } };
}

async function runTask(token: string, agentId: string, input: unknown) {
  const created = await api('POST', '/api/v1/tasks', { token, body: { agent_id: agentId, input } });
  expect(created.status).toBe(201);
  const started = await api('POST', `/api/v1/tasks/${created.body.id}/execute`, { token });
  expect(started.status).toBe(202);
  return waitForTask(token, created.body.id);
}

async function waitForTask(token: string, id: string) {
  return eventually(
    async () => {
      const res = await api('GET', `/api/v1/tasks/${id}/results`, { token });
      expect(res.status).toBe(200);
      expect(res.body.status, `task ${id} did not finish`).toMatch(/^(succeeded|failed)$/);
      return res.body;
    },
    { timeout: 30_000, interval: 100 },
  );
}

describe('uploading an agent binary', () => {
  it('validates, stores at agents/<id>/<sha256>.wasm and records the agent', async () => {
    const user = await registerUser(api);
    const wasm = exampleAgent('text-stats');
    const res = await upload(user.token, wasm, {
      name: 'Text Stats',
      description: 'Counts words and sentences',
      version: '1.2.0',
      capabilities: '["text","statistics"]',
      price_cents: '250',
    });
    expect(res.status).toBe(201);
    const sha = sha256Hex(wasm);
    const { agent, binary, api_key } = res.body;
    expect(api_key).toMatch(/^hk_/);
    expect(binary).toEqual({ sha256: sha, size_bytes: wasm.length, url: `s3://${platform.config.S3_BUCKET}/agents/${agent.id}/${sha}.wasm`, version: '1.2.0' });
    expect(agent).toMatchObject({ name: 'Text Stats', version: '1.2.0', capabilities: ['text', 'statistics'], price_cents: 250, binary: { sha256: sha, size_bytes: wasm.length } });

    // The object is really in S3, byte for byte.
    const s3 = createS3(platform.config);
    const object = await s3.send(new GetObjectCommand({ Bucket: platform.config.S3_BUCKET, Key: `agents/${agent.id}/${sha}.wasm` }));
    expect(sha256Hex(await object.Body!.transformToByteArray())).toBe(sha);
    s3.destroy();
  });

  it('a new version keeps the old one addressable', async () => {
    const user = await registerUser(api);
    const first = await uploaded(user.token, exampleAgent('text-stats'), { version: '1.0.0' });
    const second = await upload(user.token, exampleAgent('json-transform'), { agent_id: first.agent.id, version: '2.0.0' });
    expect(second.status).toBe(200);
    expect(second.body.api_key).toBeUndefined();
    expect(second.body.agent).toMatchObject({ id: first.agent.id, version: '2.0.0', binary: { sha256: sha256Hex(exampleAgent('json-transform')) } });

    const versions = await api('GET', `/api/v1/agents/${first.agent.id}/binaries`);
    expect(versions.body.current).toBe(second.body.binary.sha256);
    expect(versions.body.data.map((b: { version: string }) => b.version)).toEqual(['2.0.0', '1.0.0']);
    const old = await platform.deps.binaries.get(platform.deps.binaries.keyOf(first.binary.url), first.binary.sha256);
    expect(old.equals(exampleAgent('text-stats'))).toBe(true);
  });

  it('refuses an invalid module with a 400 that says why', async () => {
    const user = await registerUser(api);
    const res = await upload(user.token, Buffer.from('definitely not wasm'), { name: 'broken' });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: 'INVALID_MODULE', details: [{ field: 'file' }] });
    expect(res.body.error.message).toMatch(/not a WebAssembly binary/);

    const noStart = await upload(user.token, fixture('no-start'), { name: 'library' });
    expect(noStart.status).toBe(400);
    expect(noStart.body.error.message).toMatch(/_start/);

    const badStart = await upload(user.token, fixture('start-with-params'), { name: 'wrong signature' });
    expect(badStart.status).toBe(400);
    expect(badStart.body.error).toMatchObject({ code: 'INVALID_MODULE', details: [{ field: 'file' }] });
    expect(badStart.body.error.message).toMatch(/`_start` must have type \(\) -> \(\)/);

    const noMemory = await upload(user.token, fixture('no-memory'), { name: 'no memory' });
    expect(noMemory.status).toBe(400);
    expect(noMemory.body.error.message).toMatch(/does not export its linear memory/);
  });

  it('refuses a file over the size cap with 413, and a missing file or name with 400', async () => {
    const user = await registerUser(api);
    const big = await upload(user.token, Buffer.alloc(300 * 1024), { name: 'huge' });
    expect(big.status).toBe(413);
    expect(big.body.error).toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });

    const form = new FormData();
    form.append('name', 'no file');
    const missing = await fetch(`${platform.base}/api/v1/agents/upload`, { method: 'POST', headers: { Authorization: `Bearer ${user.token}` }, body: form });
    expect(missing.status).toBe(400);
    expect(((await missing.json()) as { error: { details: unknown } }).error.details).toEqual([{ field: "file" }]);

    const nameless = await upload(user.token, exampleAgent('text-stats'));
    expect(nameless.status).toBe(400);
    expect(nameless.body.error.details).toEqual([{ field: 'name' }]);

    const price = await upload(user.token, exampleAgent('text-stats'), { name: 'x', price_cents: '-5' });
    expect(price.status).toBe(400);
    expect(price.body.error.details[0].field).toBe('price_cents');
  });

  it('only the owner can upload a new version; anonymous uploads are refused', async () => {
    const owner = await registerUser(api);
    const other = await registerUser(api, 'Mallory');
    const { agent } = await uploaded(owner.token, exampleAgent('text-stats'));
    const res = await upload(other.token, exampleAgent('json-transform'), { agent_id: agent.id });
    expect(res.status).toBe(404);
    const anonymous = await fetch(`${platform.base}/api/v1/agents/upload`, { method: 'POST', body: new FormData() });
    expect(anonymous.status).toBe(401);
  });
});

describe('discovery', () => {
  it('lists agents newest first, filters by capability and status, and pages', async () => {
    const user = await registerUser(api);
    const tag = `cap${Date.now()}`;
    for (const n of [1, 2, 3]) await registerAgent(api, user.token, { name: `lister ${n}`, capabilities: [tag] });
    const page1 = await api('GET', `/api/v1/agents?capability=${tag}&limit=2&status=active`);
    expect(page1.status).toBe(200);
    expect(page1.body.data.map((a: { name: string }) => a.name)).toEqual(['lister 3', 'lister 2']);
    const page2 = await api('GET', `/api/v1/agents?capability=${tag}&limit=2&cursor=${page1.body.next_cursor}`);
    expect(page2.body.data.map((a: { name: string }) => a.name)).toEqual(['lister 1']);
    expect(page2.body.next_cursor).toBeNull();
    expect((await api('GET', `/api/v1/agents?capability=${tag}&status=suspended`)).body.data).toEqual([]);
    expect((await api('GET', '/api/v1/agents?status=sleeping')).status).toBe(400);
  });

  it('searches name, capabilities and description with ranking', async () => {
    const user = await registerUser(api);
    const word = `zebrafish${Date.now()}`;
    const inName = await registerAgent(api, user.token, { name: `${word} translator`, capabilities: ['text'] });
    const inCapabilities = await registerAgent(api, user.token, { name: 'helper', capabilities: [word] });
    const inDescription = await registerAgent(api, user.token, { name: 'other', description: `knows about ${word} things` });
    await registerAgent(api, user.token, { name: 'unrelated', description: 'nothing to see' });

    const res = await api('GET', `/api/v1/agents/search?q=${word}`);
    expect(res.status).toBe(200);
    expect(res.body.data.map((a: { id: string }) => a.id)).toEqual([inName.id, inCapabilities.id, inDescription.id]);
    expect(res.body.data[0].rank).toBeGreaterThan(res.body.data[2].rank);
    expect((await api('GET', '/api/v1/agents/search')).body.error.details[0].field).toBe('q');
  });

  it('uses the full-text index, not a scan', async () => {
    await platform.deps.knex.raw('SET enable_seqscan = off');
    const plan = await platform.deps.knex.raw(
      "EXPLAIN SELECT id FROM agents WHERE search_vector @@ websearch_to_tsquery('english', 'translator')",
    );
    await platform.deps.knex.raw('RESET enable_seqscan');
    expect(JSON.stringify(plan.rows)).toMatch(/agents_search_vector_gin/);
  });
});

describe('direct tasks', () => {
  it('runs an agent on an input and returns its results to the owner only', async () => {
    const user = await registerUser(api);
    const { agent } = await uploaded(user.token, exampleAgent('text-stats'));
    const result = await runTask(user.token, agent.id, { intent: 'count', context: { text: 'one two two three three three' } });
    expect(result).toMatchObject({ status: 'succeeded', outcome: 'ok', exit_code: 0, stderr: '', attempt: 1 });
    expect(JSON.parse(result.stdout)).toMatchObject({ words: 6, unique_words: 3, top_words: [{ word: 'three', count: 3 }, { word: 'two', count: 2 }, { word: 'one', count: 1 }] });
    expect(result.duration_ms).toBeGreaterThanOrEqual(0);
    expect(result.fuel).toBeGreaterThan(0);
    // Its cost in CPU time is recorded too, whatever the metering.
    expect(result.cpu_time_us).toBeGreaterThan(0);
    expect(result.cpu_time_us / 1000).toBeLessThanOrEqual(result.duration_ms + 1);
    expect(Date.parse(result.created_at)).not.toBeNaN();

    const stranger = await registerUser(api, 'Eve');
    expect((await api('GET', `/api/v1/tasks/${result.task_id}/results`, { token: stranger.token })).status).toBe(404);
    expect((await api('POST', `/api/v1/tasks/${result.task_id}/execute`, { token: user.token })).status).toBe(409);
  });

  it('a hostile binary fails its task without retries and the worker stays up', async () => {
    const user = await registerUser(api);
    const { agent: looping } = await uploaded(user.token, fixture('infinite-loop'), { name: 'spinner' });
    const spun = await runTask(user.token, looping.id, {});
    expect(spun).toMatchObject({ status: 'failed', outcome: 'fuel_exhausted', fuel: 50_000_000 });
    expect(spun.attempts).toHaveLength(1);

    const { agent: exiting } = await uploaded(user.token, fixture('exit-code'), { name: 'quitter' });
    const exited = await runTask(user.token, exiting.id, {});
    expect(exited).toMatchObject({ status: 'failed', outcome: 'exit_nonzero', exit_code: 3, stderr: 'bad input\n' });

    const { agent: fine } = await uploaded(user.token, exampleAgent('json-transform'), { name: 'still works' });
    const ok = await runTask(user.token, fine.id, { context: { data: { b: 2, a: 1 }, sort_keys: true } });
    expect(ok).toMatchObject({ status: 'succeeded', stdout: '{"a":1,"b":2}\n' });
  });

  it('refuses a binary whose bytes in S3 no longer match its SHA-256', async () => {
    const user = await registerUser(api);
    // A binary no sandbox has compiled yet, so the run must fetch it from S3.
    const { agent, binary } = await uploaded(user.token, withNonce(exampleAgent('text-stats')));
    // Tamper with the stored object behind Hermes' back.
    const s3 = createS3(platform.config);
    await s3.send(new PutObjectCommand({ Bucket: platform.config.S3_BUCKET, Key: platform.deps.binaries.keyOf(binary.url), Body: fixture('echo') }));
    s3.destroy();
    const result = await runTask(user.token, agent.id, { intent: 'x' });
    expect(result).toMatchObject({ status: 'failed', outcome: 'error', stdout: '' });
    expect(result.error).toMatch(/hashes to .*, expected/);
  });

  it('needs an agent that has a binary', async () => {
    const user = await registerUser(api);
    const plain = await registerAgent(api, user.token);
    const res = await api('POST', '/api/v1/tasks', { token: user.token, body: { agent_id: plain.id, input: {} } });
    expect(res.status).toBe(409);
    expect(res.body.error).toMatchObject({ code: 'NO_BINARY', details: [{ field: 'agent_id' }] });
  });
});

// What fixture('binary-output') writes: stdout is not text (NUL, invalid UTF-8), stderr is
// UTF-8 text that starts with a byte-order mark.
const BINARY_STDOUT = Buffer.from([0x61, 0x00, 0x62, 0xff, 0xfe]);
const BOM_STDERR = Buffer.from('\uFEFFwarn: café\n', 'utf8');

describe('agent output', () => {
  it('is returned byte for byte: UTF-8 text as it is, anything else in base64, with hash and length', async () => {
    const user = await registerUser(api);
    const { agent } = await uploaded(user.token, fixture('binary-output'), { name: 'binary writer' });
    const result = await runTask(user.token, agent.id, {});
    expect(result).toMatchObject({
      status: 'succeeded',
      outcome: 'ok',
      exit_code: 0,
      stdout_encoding: 'base64',
      stdout_sha256: sha256Hex(BINARY_STDOUT),
      stdout_bytes: 5,
      stderr: '\uFEFFwarn: café\n',
      stderr_encoding: 'utf8',
      stderr_sha256: sha256Hex(BOM_STDERR),
      stderr_bytes: 15,
    });
    expect(Buffer.from(result.stdout, 'base64')).toEqual(BINARY_STDOUT);
    expect(result.stdout).toBe('YQBi//4=');
    expect(result.attempts).toEqual([expect.objectContaining({ stdout: result.stdout, stdout_encoding: 'base64', stderr: result.stderr, stderr_encoding: 'utf8' })]);
    // The row holds the exact bytes too.
    const row = await platform.deps.knex('task_results').where({ task_id: result.task_id }).first();
    expect(row).toMatchObject({ stdout: BINARY_STDOUT, stderr: BOM_STDERR, stdout_bytes: 5, stdout_sha256: sha256Hex(BINARY_STDOUT) });
  });

  it('of a text agent stays UTF-8 text', async () => {
    const user = await registerUser(api);
    const { agent } = await uploaded(user.token, exampleAgent('json-transform'), { name: 'text writer' });
    const result = await runTask(user.token, agent.id, { context: { data: { é: '✓', a: 1 }, sort_keys: true } });
    const text = '{"a":1,"é":"✓"}\n';
    expect(result).toMatchObject({
      status: 'succeeded',
      stdout: text,
      stdout_encoding: 'utf8',
      stdout_sha256: sha256Hex(Buffer.from(text)),
      stdout_bytes: Buffer.byteLength(text),
      stderr: '',
      stderr_encoding: 'utf8',
      stderr_sha256: sha256Hex(Buffer.alloc(0)),
      stderr_bytes: 0,
    });
  });
});

describe('a contract won by a WASM agent', () => {
  async function contractFor(wasm: Buffer, context: Record<string, unknown>) {
    const user = await registerUser(api);
    const owner = await registerUser(api, 'Owner');
    const { agent, api_key } = await uploaded(owner.token, wasm, { capabilities: 'text' });
    const id = await postContract(api, user.token, { intent: 'Give me statistics for this text', context, required_capabilities: ['text'] });
    const bid = await api('POST', '/api/v1/mesh/bid', { apiKey: api_key, body: { contract_id: id, price_cents: 1_500, eta_seconds: 30, confidence: 0.95 } });
    expect(bid.status).toBe(201);
    expect((await api('POST', `/api/v1/contracts/${id}/close-bidding`, { token: user.token })).status).toBe(200);
    return { user, agent, apiKey: api_key, id };
  }

  it('settles with the agent’s real output as the delivery', async () => {
    const { user, agent, apiKey, id } = await contractFor(exampleAgent('text-stats'), { text: 'Hermes runs agents. Agents earn.' });
    const delivered = await waitForContract(api, user.token, id, 'DELIVERED');
    expect(delivered.deliveries).toEqual([
      expect.objectContaining({ source: 'sandbox', agent_id: agent.id, output: expect.objectContaining({ words: 5, sentences: 2 }), output_encoding: 'json' }),
    ]);
    expect(delivered.executions).toEqual([expect.objectContaining({ outcome: 'ok', exit_code: 0, attempt: 1 })]);
    // The agent cannot overwrite the sandbox's delivery by hand.
    const manual = await api('POST', '/api/v1/mesh/deliver', { apiKey, body: { contract_id: id, output: 'fake' } });
    expect(manual.status).toBe(409);

    expect((await api('POST', `/api/v1/contracts/${id}/accept`, { token: user.token, body: { rating: 5 } })).status).toBe(200);
    const settled = await waitForContract(api, user.token, id, 'SETTLED');
    expect(settled.deliveries[0].output.top_words[0]).toEqual({ word: 'agents', count: 2 });
    const metric = await platform.deps.knex('agent_metrics').where({ contract_id: id }).first();
    expect(metric).toMatchObject({ outcome: 'success', price_cents: 1_500 });
    expect(metric.fuel_consumed).toBeGreaterThan(0);
    expect(metric.execution_ms).not.toBeNull();
    expect(await platform.deps.knex('payments').where({ contract_id: id })).toEqual([expect.objectContaining({ status: 'captured' })]);
  });

  it('that writes bytes that are not text delivers those bytes exactly (base64) and settles; the executions keep them too', async () => {
    const { user, id } = await contractFor(fixture('binary-output'), { text: 'anything' });
    const delivered = await waitForContract(api, user.token, id, 'DELIVERED');
    expect(delivered.deliveries).toEqual([expect.objectContaining({ source: 'sandbox', output: BINARY_STDOUT.toString('base64'), output_encoding: 'base64' })]);
    expect(Buffer.from(delivered.deliveries[0].output, 'base64')).toEqual(BINARY_STDOUT);
    expect(delivered.executions).toEqual([
      expect.objectContaining({ outcome: 'ok', stdout: BINARY_STDOUT.toString('base64'), stdout_encoding: 'base64', stdout_bytes: 5, stdout_sha256: sha256Hex(BINARY_STDOUT) }),
    ]);
    // The workflow's report carries the same bytes, and says how they are written.
    const state = await api('GET', `/api/v1/contracts/${id}/state`, { token: user.token });
    expect(state.body.execution).toMatchObject({
      stdout: BINARY_STDOUT.toString('base64'),
      stdout_encoding: 'base64',
      stdout_sha256: sha256Hex(BINARY_STDOUT),
      stdout_bytes: 5,
      stderr: '\uFEFFwarn: café\n',
      stderr_encoding: 'utf8',
      stderr_bytes: 15,
    });
    expect(state.body.delivery).toMatchObject({ output: BINARY_STDOUT.toString('base64'), output_encoding: 'base64' });
    expect((await api('POST', `/api/v1/contracts/${id}/accept`, { token: user.token, body: { rating: 4 } })).status).toBe(200);
    const settled = await waitForContract(api, user.token, id, 'SETTLED');
    expect(settled.deliveries[0]).toMatchObject({ output: BINARY_STDOUT.toString('base64'), output_encoding: 'base64' });
  });

  it('a cancel during the run stops the guest, voids the escrow and records the cancelled run', async () => {
    const { user, id } = await contractFor(fixture('sleeper'), { text: 'never mind' });
    await waitForContract(api, user.token, id, 'IN_PROGRESS');
    // Cancel once the guest is really running (a run cancelled before it starts never runs).
    const handle = platform.deps.temporal.workflow.getHandle(`contract-${id}`);
    await eventually(
      async () =>
        (await handle.describe()).raw.pendingActivities?.some(
          (a) => a.activityType?.name === 'executeAgent' && a.state === temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED,
        ) === true,
      { timeout: 20_000, interval: 100, message: 'executeAgent never started' },
    );
    const res = await api('POST', `/api/v1/contracts/${id}/cancel`, { token: user.token, body: { reason: 'changed my mind' } });
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('CANCELLED');
    expect(await platform.deps.knex('payments').where({ contract_id: id })).toEqual([expect.objectContaining({ status: 'voided' })]);
    // The sandbox learns of the cancel on its next heartbeat and stops the guest.
    const row = await eventually(
      async () => {
        const found = await platform.deps.knex('task_results').where({ contract_id: id }).first();
        expect(found, 'no task_results row yet').toBeDefined();
        return found;
      },
      { timeout: 15_000, interval: 200 },
    );
    expect(row).toMatchObject({ outcome: 'cancelled' });
    expect(Number(row.duration_ms)).toBeLessThan(15_000);
  });

  it('fails when the run fails, voiding the escrow and counting against the agent', async () => {
    const { user, agent, id } = await contractFor(fixture('trap'), { text: 'anything' });
    const failed = await waitForContract(api, user.token, id, 'FAILED');
    expect(failed).toMatchObject({ failure_reason: 'execution_failed' });
    expect(failed.status_detail).toMatch(/integer divide by zero/);
    expect(failed.executions).toEqual([expect.objectContaining({ outcome: 'trap', attempt: 1 })]);
    expect(await platform.deps.knex('payments').where({ contract_id: id })).toEqual([expect.objectContaining({ status: 'voided' })]);
    expect(await platform.deps.knex('agent_metrics').where({ contract_id: id }).first()).toMatchObject({
      agent_id: agent.id,
      outcome: 'failure',
      failure_reason: 'execution_failed',
    });
  });
});
