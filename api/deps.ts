import type { Client } from '@temporalio/client';
import type { Redis } from 'ioredis';
import type Stripe from 'stripe';
import type { Knex } from 'knex';
import type { Models } from '../db/models';
import type { BinaryStore } from '../lib/binary-store';
import type { Config } from '../lib/config';
import type { EventPublisher } from '../lib/events';
import type { ModuleCompiler } from '../lib/module-compiler';
import type { OutputChecks } from '../lib/output-checks';
import type { Logger } from '../lib/logger';
import type { ContractUpdateMetrics, HttpMetrics } from '../lib/metrics';
import type { Registry } from 'prom-client';
import type { Auth } from './auth';
import type { Tokens } from './credentials';

// What the routers are built from; created once in api/main.ts (or by a test).
export interface ApiDeps {
  config: Config;
  knex: Knex;
  models: Models;
  temporal: Client;
  redis: Redis;
  log: Logger;
  tokens: Tokens;
  auth: Auth;
  /** Compiles uploads to validate them, each in a bounded child process (api/compile-upload.ts
   *  turns its errors into answers); runs happen on the sandbox worker. */
  moduleCompiler: ModuleCompiler;
  /** Tries a contract's output_schema in a thread with a deadline (lib/output-checks.ts). */
  schemaChecks: Pick<OutputChecks, 'problems' | 'close'>;
  binaries: BinaryStore;
  stripe: Stripe;
  /** Appends real-time events (A2A messages from the API; workers make their own). */
  events: EventPublisher;
  /** This process's /metrics: its registry and what the routes record into it. */
  metrics: { registry: Registry; http: HttpMetrics; updates: ContractUpdateMetrics };
}
