// Records workflow histories into test/fixtures/histories/ (protobuf) so the replay test can
// prove later workflow code still replays them. Run via `npm run record-history -- <scenario>
// --force` (which provides the test server). Hermes is unreleased: after a workflow change,
// re-record every scenario from the new code instead of guarding it with patched().
//
// Scenarios, one per way a contract ends: contract-ledger-settled (an agent delivers by hand),
// contract-wasm-settled (the awarded agent's binary runs in the sandbox), contract-reawarded
// (the first delivery is rejected, the runner-up settles), contract-expired (no bids),
// contract-cancelled (the owner cancels while the agent works), contract-failed (the agent
// misses its deadline); and task-succeeded (a direct task).
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import proto from '@temporalio/proto';
import { existsSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { SandboxActivities } from '../activities/execute-agent';
import type { Validation } from '../domain/acceptance';
import type { ExecutionPlan, ExecutionReport } from '../domain/execution';
import { bid, contractInput } from '../test/support/builders';
import { executionReport } from '../test/support/execution-report';
import { recordedActivities } from '../test/support/recorded-activities';
import { registerSearchAttributes } from '../test/support/register-search-attributes';
import { WORKFLOWS_PATH } from '../workers/create-worker';
import { contractWorkflow } from '../workflows/contract';
import { accept, cancel, closeBidding, deliver, getState, reject, submitBid } from '../workflows/contract-messages';
import { eventually } from '../test/support/eventually';
import { taskWorkflow } from '../workflows/task';

const scenario = process.argv[2];
const scenarios = ['contract-ledger-settled', 'contract-wasm-settled', 'contract-reawarded', 'contract-validated', 'contract-expired', 'contract-cancelled', 'contract-failed', 'task-succeeded'];
if (!scenario || !scenarios.includes(scenario)) {
  console.error(`usage: npm run record-history -- <${scenarios.join('|')}> [--force]`);
  process.exit(2);
}
const out = fileURLToPath(new URL(`../test/fixtures/histories/${scenario}.history.pb`, import.meta.url));
if (existsSync(out) && !process.argv.includes('--force')) {
  console.error(`${out} exists and records older workflow code; pass --force only if you mean to replace it`);
  process.exit(2);
}

const ids = (n: number) => `00000000-0000-4000-8000-00000000000${n}`;
const plan: ExecutionPlan = { agentId: ids(3), binaryHash: 'a'.repeat(64), binaryUrl: `s3://hermes-agents/agents/${ids(3)}/${'a'.repeat(64)}.wasm`, timeoutMs: 10_000, taskQueue: 'record-sandbox' };
const report: ExecutionReport = executionReport({ taskResultId: ids(9), attempt: 1, outcome: 'ok', exitCode: 0, stdout: '{"words":3}\n', durationMs: 1.5, fuelConsumed: 42_000, message: null });
// contract-validated: the first agent's delivery fails its checks, the second's passes.
const validation = (status: 'passed' | 'failed'): Validation => ({
  status,
  checks: [{ name: 'verifier', status, message: status === 'passed' ? 'the verifier exited 0' : 'the verifier exited 1: 2 bullet points, want 3', verifier_id: ids(7), verifier_sha256: 'b'.repeat(64), outcome: status === 'passed' ? 'ok' : 'exit_nonzero', exit_code: status === 'passed' ? 0 : 1, fuel_consumed: 1000, duration_ms: 1, stderr: null }],
  report: status === 'passed' ? 'ok\n' : '2 bullet points, want 3\n',
  validated_at: '2026-12-01T00:00:00.000Z',
});
const sandboxActivities: SandboxActivities = {
  executeAgent: async () => report,
  validateDelivery: async (req) => validation(req.input.delivery.agent_id === ids(3) ? 'failed' : 'passed'),
};

Runtime.install({ logger: new DefaultLogger('ERROR') });
const env = await TestWorkflowEnvironment.createTimeSkipping({
  server: { executable: { type: 'existing-path', path: process.env.TEMPORAL_TEST_SERVER! } },
});
await registerSearchAttributes(env.connection);
const { activities, recorder } = recordedActivities();
if (scenario === 'contract-wasm-settled') recorder.executionPlan = plan;
const worker = await Worker.create({ connection: env.nativeConnection, taskQueue: 'record', workflowsPath: WORKFLOWS_PATH, activities });
const sandboxWorker = await Worker.create({ connection: env.nativeConnection, taskQueue: 'record-sandbox', activities: sandboxActivities });

type Handle = Awaited<ReturnType<typeof env.client.workflow.start<typeof contractWorkflow>>>;
const waitFor = (handle: Handle, status: string) => eventually(async () => (await handle.query(getState)).status === status, { timeout: 30_000 });

async function record() {
  if (scenario === 'task-succeeded') {
    const handle = await env.client.workflow.start(taskWorkflow, { taskQueue: 'record', workflowId: `task-${ids(5)}`, args: [{ taskId: ids(5), plan, input: { intent: 'count' } }] });
    await handle.result();
    return handle.fetchHistory();
  }
  const input = contractInput({
    contractId: ids(1),
    userId: ids(2),
    ...(scenario === 'contract-reawarded' && { maxReawards: 1 }),
    ...(scenario === 'contract-validated' && {
      maxReawards: 1,
      acceptance: { outputSchema: { type: 'object', required: ['summary'] }, verifier: { id: ids(7), name: 'bullets', sha256: 'b'.repeat(64), url: `s3://hermes-agents/verifiers/${ids(7)}/${'b'.repeat(64)}.wasm` }, onPass: 'settle', taskQueue: 'record-sandbox' },
    }),
  });
  const handle = await env.client.workflow.start(contractWorkflow, { taskQueue: 'record', workflowId: `contract-${input.contractId}`, args: [input] });
  if (scenario === 'contract-expired') {
    await handle.result(); // the test server skips through the bidding window
    return handle.fetchHistory();
  }
  const winner = bid({ agentId: ids(3), priceCents: 2_000 });
  await handle.executeUpdate(submitBid, { args: [winner] });
  await handle.executeUpdate(submitBid, { args: [bid({ agentId: ids(4), priceCents: 9_000 })] });
  await handle.executeUpdate(closeBidding, { args: [{ userId: input.userId }] });
  if (scenario === 'contract-cancelled' || scenario === 'contract-failed') {
    await waitFor(handle, 'IN_PROGRESS');
    if (scenario === 'contract-cancelled') await handle.executeUpdate(cancel, { args: [{ userId: input.userId, reason: 'no longer needed' }] });
    await handle.result(); // contract-failed: the delivery window passes
    return handle.fetchHistory();
  }
  if (scenario === 'contract-validated') {
    // Both deliveries are decided by the checks: the first rejected and re-awarded, the second settled.
    await waitFor(handle, 'IN_PROGRESS');
    await handle.executeUpdate(deliver, { args: [{ agentId: winner.agentId, output: { summary: '- one\n- two' } }] });
    await eventually(async () => (await handle.query(getState)).award?.agentId === ids(4), { timeout: 30_000 });
    await waitFor(handle, 'IN_PROGRESS');
    await handle.executeUpdate(deliver, { args: [{ agentId: ids(4), output: { summary: '- one\n- two\n- three' } }] });
    await handle.result();
    return handle.fetchHistory();
  }
  if (scenario === 'contract-reawarded') {
    await waitFor(handle, 'IN_PROGRESS');
    await handle.executeUpdate(deliver, { args: [{ agentId: winner.agentId, output: { summary: 'draft' } }] });
    await waitFor(handle, 'DELIVERED');
    await handle.executeUpdate(reject, { args: [{ userId: input.userId, reason: 'not it' }] });
    await eventually(async () => (await handle.query(getState)).award?.agentId === ids(4), { timeout: 30_000 });
    await waitFor(handle, 'IN_PROGRESS');
    await handle.executeUpdate(deliver, { args: [{ agentId: ids(4), output: { summary: 'done' } }] });
  } else if (scenario !== 'contract-wasm-settled') {
    await waitFor(handle, 'IN_PROGRESS');
    await handle.executeUpdate(deliver, { args: [{ agentId: winner.agentId, output: { summary: 'done' } }] });
  }
  await waitFor(handle, 'DELIVERED');
  await handle.executeUpdate(accept, { args: [{ userId: input.userId, rating: 5 }] });
  await handle.result();
  return handle.fetchHistory();
}

try {
  await sandboxWorker.runUntil(
    worker.runUntil(async () => {
      const history = await record();
      // Protobuf bytes, not JSON: the SDK's JSON helpers trip over its two nested protobufjs copies.
      const { History } = proto.temporal.api.history.v1;
      writeFileSync(out, History.encode(History.create(history)).finish());
      console.log(`recorded ${history.events?.length} events to ${out}`);
    }),
  );
} finally {
  // A failed recording must not leave its test server running.
  await env.teardown();
}
