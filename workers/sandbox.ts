// The sandbox worker process: `npm run sandbox-worker`. Runs agents' WASM binaries (the
// executeAgent activity) on the sandbox task queue. SIGINT/SIGTERM drain it gracefully.
import { createSandboxActivities } from '../activities/execute-agent';
import { createKnex } from '../db/knex';
import { createBinaryStore } from '../lib/binary-store';
import { loadConfig } from '../lib/config';
import { createLogger } from '../lib/logger';
import { createS3, ensureBucket } from '../lib/s3';
import { WasmSandbox } from '../sandbox';
import { createSandboxWorker } from './create-worker';

const config = loadConfig();
const log = createLogger(config, 'sandbox-worker');
const knex = createKnex(config);
const s3 = createS3(config);
await ensureBucket(s3, config.S3_BUCKET);
const sandbox = WasmSandbox.load(config.SANDBOX_ADDON_PATH, { cacheCapacity: config.SANDBOX_MODULE_CACHE });
const activities = createSandboxActivities({ knex, sandbox, binaries: createBinaryStore(s3, config.S3_BUCKET), config });
const worker = await createSandboxWorker({ config, activities });
log.info({ taskQueue: config.SANDBOX_TASK_QUEUE, concurrency: config.SANDBOX_CONCURRENCY }, 'sandbox worker started');
try {
  await worker.run();
} finally {
  await knex.destroy();
  s3.destroy();
  log.info('sandbox worker stopped');
}
