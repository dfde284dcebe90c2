// The sandbox worker process: `npm run sandbox-worker`. Runs agents' WASM binaries (the
// executeAgent activity) on the sandbox task queue. SIGINT/SIGTERM drain it gracefully. Its
// metrics, with the Temporal SDK's, are on SANDBOX_METRICS_PORT.
import { createSandboxActivities } from '../activities/execute-agent';
import { createKnex } from '../db/knex';
import { createBinaryStore } from '../lib/binary-store';
import { loadConfig } from '../lib/config';
import { createLogger } from '../lib/logger';
import { createRegistry, sandboxMetrics } from '../lib/metrics';
import { serveMetrics } from '../lib/metrics-server';
import { createS3, ensureBucket } from '../lib/s3';
import { WasmSandbox } from '../sandbox';
import { createSandboxWorker } from './create-worker';
import { installRuntimeWithSdkMetrics } from './sdk-metrics';

const config = loadConfig();
const log = createLogger(config, 'sandbox-worker');
// First: the SDK's metrics are configured when its runtime is installed, before any connection.
const sdkMetricsUrl = config.SANDBOX_METRICS_PORT ? await installRuntimeWithSdkMetrics(log) : undefined;
const registry = createRegistry();
const knex = createKnex(config);
const s3 = createS3(config);
await ensureBucket(s3, config.S3_BUCKET);
const sandbox = WasmSandbox.load(config.SANDBOX_ADDON_PATH, {
  cacheCapacity: config.SANDBOX_MODULE_CACHE,
  metering: config.SANDBOX_METERING,
  poolSize: config.SANDBOX_POOL_SIZE,
});
if (sandbox.poolError) {
  log.warn({ err: sandbox.poolError }, 'sandbox: the pooling allocator could not reserve its address space; resources are mapped per run');
}
const activities = createSandboxActivities({ knex, sandbox, binaries: createBinaryStore(s3, config.S3_BUCKET), config, metrics: sandboxMetrics(registry) });
const worker = await createSandboxWorker({ config, activities });
const metrics = config.SANDBOX_METRICS_PORT
  ? await serveMetrics({ registry, host: config.METRICS_HOST, port: config.SANDBOX_METRICS_PORT, token: config.METRICS_TOKEN, allowLocal: config.NODE_ENV !== 'production', sdkMetricsUrl, log })
  : null;
log.info({ taskQueue: config.SANDBOX_TASK_QUEUE, concurrency: config.SANDBOX_CONCURRENCY, metering: sandbox.metering, poolSize: sandbox.poolSize, metrics: metrics?.url ?? null }, 'sandbox worker started');
try {
  await worker.run();
} finally {
  await metrics?.close();
  await knex.destroy();
  s3.destroy();
  log.info('sandbox worker stopped');
}
