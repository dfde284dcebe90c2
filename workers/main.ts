// The main worker process: `npm run worker`. Temporal's runtime shuts the worker down
// gracefully on SIGINT/SIGTERM (in-flight activities finish, then it exits).
import { createActivities } from '../activities';
import { createKnex } from '../db/knex';
import { loadConfig } from '../lib/config';
import { createLogger } from '../lib/logger';
import { createStripe } from '../lib/stripe';
import { createMainWorker } from './create-worker';

const config = loadConfig();
const log = createLogger(config, 'worker');
const knex = createKnex(config);
const activities = createActivities({ knex, stripe: createStripe(config), config });
const worker = await createMainWorker({ config, activities });
log.info({ taskQueue: config.TEMPORAL_TASK_QUEUE, temporal: config.TEMPORAL_ADDRESS }, 'worker started');
try {
  await worker.run();
} finally {
  await knex.destroy();
  log.info('worker stopped');
}
