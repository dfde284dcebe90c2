// The main worker process: `npm run worker`. Temporal's runtime shuts the worker down
// gracefully on SIGINT/SIGTERM (in-flight activities finish, then it exits).
import { Redis } from 'ioredis';
import { createActivities } from '../activities';
import { createKnex } from '../db/knex';
import { loadConfig } from '../lib/config';
import { createEventPublisher } from '../lib/events';
import { createLogger } from '../lib/logger';
import { createStripe } from '../lib/stripe';
import { createTemporalClient } from '../lib/temporal';
import { createMainWorker } from './create-worker';
import { ensureTrustSchedule, TRUST_SCHEDULE_ID } from './trust-schedule';

const config = loadConfig();
const log = createLogger(config, 'worker');
const knex = createKnex(config);
const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 3 });
const activities = createActivities({ knex, stripe: createStripe(config), config, events: createEventPublisher(redis, config.EVENTS_RETENTION) });
const worker = await createMainWorker({ config, activities });
const client = await createTemporalClient(config);
log.info({ schedule: TRUST_SCHEDULE_ID, cron: config.TRUST_RECOMPUTE_CRON, result: await ensureTrustSchedule(client, config) }, 'trust schedule registered');
await client.connection.close();
log.info({ taskQueue: config.TEMPORAL_TASK_QUEUE, temporal: config.TEMPORAL_ADDRESS }, 'worker started');
try {
  await worker.run();
} finally {
  await knex.destroy();
  redis.disconnect();
  log.info('worker stopped');
}
