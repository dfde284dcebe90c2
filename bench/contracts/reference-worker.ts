import { NativeConnection, Worker } from '@temporalio/worker';
import { fileURLToPath } from 'node:url';
import * as activities from './reference-activities';

// The reference workflows' worker, a process of its own so its CPU is counted apart. It runs
// with the main worker's settings (workers/create-worker.ts) that touch throughput.
const address = process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233';
const taskQueue = process.env.REFERENCE_TASK_QUEUE ?? 'bench-reference';
const slots = Number(process.env.WORKER_WORKFLOW_TASK_SLOTS ?? 4);

const connection = await NativeConnection.connect({ address });
const worker = await Worker.create({
  connection,
  namespace: process.env.TEMPORAL_NAMESPACE ?? 'default',
  taskQueue,
  workflowsPath: fileURLToPath(new URL('./reference-workflows.ts', import.meta.url)),
  activities,
  maxConcurrentWorkflowTaskExecutions: slots,
  stickyQueueScheduleToStartTimeout: '3 seconds',
});
console.log('reference worker started');
process.once('SIGTERM', () => worker.shutdown());
await worker.run();
await connection.close();
