// The main worker process: `npm run worker`. Temporal's runtime shuts the worker down
// gracefully on SIGINT/SIGTERM (in-flight activities finish, then it exits). It also runs the
// outbox relay that publishes the activities' events (one leads when several workers run), and
// serves its metrics with the Temporal SDK's on WORKER_METRICS_PORT.
import { Redis } from 'ioredis';
import { createActivities } from '../activities';
import { createKnex } from '../db/knex';
import { loadConfig } from '../lib/config';
import { createLogger } from '../lib/logger';
import { activityMetrics, createRegistry, outboxBacklogGauges, relayMetrics } from '../lib/metrics';
import { serveMetrics } from '../lib/metrics-server';
import { createStripe } from '../lib/stripe';
import { createTemporalClient } from '../lib/temporal';
import { createMainWorker } from './create-worker';
import { startOutboxRelay } from './outbox-relay';
import { installRuntimeWithSdkMetrics } from './sdk-metrics';
import { ensureTrustSchedule, TRUST_SCHEDULE_ID } from './trust-schedule';

const config = loadConfig();
const log = createLogger(config, 'worker');
// First: the SDK's metrics are configured when its runtime is installed, before any connection.
const sdkMetricsUrl = config.WORKER_METRICS_PORT ? await installRuntimeWithSdkMetrics(log) : undefined;
const knex = createKnex(config);
const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 3 });
const registry = createRegistry();
outboxBacklogGauges(registry, { knex, log });
const activities = createActivities({ knex, stripe: createStripe(config), config, metrics: activityMetrics(registry) });
const worker = await createMainWorker({ config, activities });
const client = await createTemporalClient(config);
log.info({ schedule: TRUST_SCHEDULE_ID, cron: config.TRUST_RECOMPUTE_CRON, result: await ensureTrustSchedule(client, config) }, 'trust schedule registered');
await client.connection.close();
const metrics = config.WORKER_METRICS_PORT
  ? await serveMetrics({ registry, host: config.METRICS_HOST, port: config.WORKER_METRICS_PORT, token: config.METRICS_TOKEN, allowLocal: config.NODE_ENV !== 'production', sdkMetricsUrl, log })
  : null;
log.info({ taskQueue: config.TEMPORAL_TASK_QUEUE, temporal: config.TEMPORAL_ADDRESS, metrics: metrics?.url ?? null }, 'worker started');
const relay = startOutboxRelay({ databaseUrl: config.DATABASE_URL, redis, retention: config.EVENTS_RETENTION, log, metrics: relayMetrics(registry) });
try {
  await worker.run();
} finally {
  await relay.stop();
  await metrics?.close();
  await knex.destroy();
  redis.disconnect();
  log.info('worker stopped');
}
