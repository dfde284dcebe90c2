// Records the history of one settled contract into test/fixtures/histories/ (protobuf) so the replay
// test can prove later workflow code still replays it. Run via `npm run record-history`
// (which provides the test server) after an intentional, patched() workflow change.
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { bid, contractInput } from '../test/support/builders';
import { recordedActivities } from '../test/support/recorded-activities';
import { registerSearchAttributes } from '../test/support/register-search-attributes';
import { WORKFLOWS_PATH } from '../workers/create-worker';
import { accept, closeBidding, contractWorkflow, deliver, submitBid } from '../workflows/contract';
import proto from '@temporalio/proto';

const out = fileURLToPath(new URL('../test/fixtures/histories/contract-settled.history.pb', import.meta.url));
Runtime.install({ logger: new DefaultLogger('ERROR') });
const env = await TestWorkflowEnvironment.createTimeSkipping({
  server: { executable: { type: 'existing-path', path: process.env.TEMPORAL_TEST_SERVER! } },
});
await registerSearchAttributes(env.connection);
const worker = await Worker.create({
  connection: env.nativeConnection,
  taskQueue: 'record',
  workflowsPath: WORKFLOWS_PATH,
  activities: recordedActivities().activities,
});
await worker.runUntil(async () => {
  const input = contractInput({ contractId: '00000000-0000-4000-8000-000000000001', userId: '00000000-0000-4000-8000-000000000002' });
  const handle = await env.client.workflow.start(contractWorkflow, { taskQueue: 'record', workflowId: `contract-${input.contractId}`, args: [input] });
  const winner = bid({ agentId: '00000000-0000-4000-8000-000000000003', priceCents: 2_000 });
  await handle.executeUpdate(submitBid, { args: [winner] });
  await handle.executeUpdate(submitBid, { args: [bid({ agentId: '00000000-0000-4000-8000-000000000004', priceCents: 9_000 })] });
  await handle.executeUpdate(closeBidding, { args: [{ userId: input.userId }] });
  while ((await handle.query('getState') as { status: string }).status !== 'IN_PROGRESS') await new Promise((r) => setTimeout(r, 50));
  await handle.executeUpdate(deliver, { args: [{ agentId: winner.agentId, output: { summary: 'done' } }] });
  while ((await handle.query('getState') as { status: string }).status !== 'DELIVERED') await new Promise((r) => setTimeout(r, 50));
  await handle.executeUpdate(accept, { args: [{ userId: input.userId, rating: 5 }] });
  await handle.result();
  const history = await handle.fetchHistory();
  // Protobuf bytes, not JSON: the SDK's JSON helpers trip over its two nested protobufjs copies.
  const { History } = proto.temporal.api.history.v1;
  writeFileSync(out, History.encode(History.create(history)).finish());
  console.log(`recorded ${history.events?.length} events to ${out}`);
});
await env.teardown();
