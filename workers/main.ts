// The main worker process: `npm run worker`. Temporal's runtime shuts the worker down
// gracefully on SIGINT/SIGTERM (in-flight activities finish, then it exits). It also runs the
// outbox relay that publishes the activities' events (one leads when several workers run).
import { Redis } from 'ioredis';
import { createActivities } from '../activities';
import { createKnex } from '../db/knex';
import { loadConfig } from '../lib/config';
import { createLogger } from '../lib/logger';
import { createStripe } from '../lib/stripe';
import { createTemporalClient } from '../lib/temporal';
import { createMainWorker } from './create-worker';
import { startOutboxRelay } from './outbox-relay';
import { ensureTrustSchedule, TRUST_SCHEDULE_ID } from './trust-schedule';

const config = loadConfig();
const log = createLogger(config, 'worker');
const knex = createKnex(config);
const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 3 });
const activities = createActivities({ knex, stripe: createStripe(config), config });
const worker = await createMainWorker({ config, activities });
const client = await createTemporalClient(config);
log.info({ schedule: TRUST_SCHEDULE_ID, cron: config.TRUST_RECOMPUTE_CRON, result: await ensureTrustSchedule(client, config) }, 'trust schedule registered');
await client.connection.close();
log.info({ taskQueue: config.TEMPORAL_TASK_QUEUE, temporal: config.TEMPORAL_ADDRESS }, 'worker started');
const relay = startOutboxRelay({ databaseUrl: config.DATABASE_URL, redis, retention: config.EVENTS_RETENTION, log });
try {
  await worker.run();
} finally {
  await relay.stop();
  await knex.destroy();
  redis.disconnect();
  log.info('worker stopped');
}
