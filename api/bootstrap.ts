import { Redis } from 'ioredis';
import { createKnex } from '../db/knex';
import { createModels } from '../db/models';
import type { Config } from '../lib/config';
import { createBinaryStore } from '../lib/binary-store';
import { createEventPublisher } from '../lib/events';
import { createLogger } from '../lib/logger';
import { contractUpdateMetrics, createRegistry, databaseGauges, httpMetrics } from '../lib/metrics';
import { createS3, ensureBucket } from '../lib/s3';
import { createStripe } from '../lib/stripe';
import { moduleCompilerFromConfig } from '../lib/module-compiler';
import { createOutputChecks } from '../lib/output-checks';
import { createTemporalClient } from '../lib/temporal';
import { createAuth } from './auth';
import { createTokens } from './credentials';
import type { ApiDeps } from './deps';

// Builds the API's clients once; close() releases them on shutdown.
export async function createApiDeps(config: Config): Promise<ApiDeps & { close(): Promise<void> }> {
  const log = createLogger(config, 'api');
  const knex = createKnex(config);
  const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 2, enableOfflineQueue: false, lazyConnect: true });
  await redis.connect();
  const temporal = await createTemporalClient(config);
  const tokens = createTokens(config);
  const auth = createAuth({ knex, redis, tokens, config, onError: (err) => log.warn({ err }, 'auth cache invalidation channel') });
  const s3 = createS3(config);
  await ensureBucket(s3, config.S3_BUCKET);
  const moduleCompiler = moduleCompilerFromConfig(config, log);
  const schemaChecks = createOutputChecks({ timeoutMs: config.ACCEPTANCE_SCHEMA_COMPILE_SECONDS * 1000 });
  const registry = createRegistry();
  databaseGauges(registry, { knex, log, refreshMs: config.METRICS_DB_REFRESH_SECONDS * 1000 });
  return {
    config,
    knex,
    models: createModels(knex),
    temporal,
    redis,
    log,
    tokens,
    auth,
    moduleCompiler,
    schemaChecks,
    binaries: createBinaryStore(s3, config.S3_BUCKET),
    stripe: createStripe(config),
    events: createEventPublisher(redis, config.EVENTS_RETENTION),
    metrics: { registry, http: httpMetrics(registry), updates: contractUpdateMetrics(registry) },
    async close() {
      s3.destroy();
      moduleCompiler.close();
      await schemaChecks.close();
      // The auth cache and the rate limiters use Redis as they close: before its client quits.
      await auth.close().catch(() => undefined);
      await Promise.allSettled([knex.destroy(), redis.quit(), temporal.connection.close()]);
    },
  };
}
