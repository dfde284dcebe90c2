import { ApplicationFailure } from '@temporalio/common';
import type { Knex } from 'knex';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { CONTRACT_STATUSES, TERMINAL_STATUSES, type ContractStatus } from '../domain/statuses';
import type { Logger } from './logger';
import { OUTBOX_TABLE } from './outbox';

// Every metric Hermes defines, by the process that records it. Each process makes one Registry
// and hands the groups it needs to the code that records them (as activities get their
// clients), so nothing registers into a global and a test can pass a fresh Registry.
//
// Counters live in the process that does the work (with several API or worker processes,
// Prometheus sums them). Totals that are facts of the database (contracts by status, ledger
// balances, the outbox backlog) are gauges read from Postgres at scrape time, so every process
// reports the same truth and none has to have seen every change: aggregate those with max().

/** A Registry with the process's own figures (CPU, memory, event-loop lag, GC). */
export function createRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry;
}

const SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

// ---- API ----

export function httpMetrics(registry: Registry) {
  return {
    requests: new Counter({
      name: 'hermes_http_requests_total',
      help: 'HTTP requests answered, by route template (never the raw path), method and status.',
      labelNames: ['route', 'method', 'status'] as const,
      registers: [registry],
    }),
    duration: new Histogram({
      name: 'hermes_http_request_duration_seconds',
      help: 'Time to answer an HTTP request, by route template and method.',
      labelNames: ['route', 'method'] as const,
      buckets: SECONDS,
      registers: [registry],
    }),
  };
}
export type HttpMetrics = ReturnType<typeof httpMetrics>;

export const UPDATE_RESULTS = ['accepted', 'rejected', 'unavailable', 'error'] as const;

export function contractUpdateMetrics(registry: Registry) {
  return {
    duration: new Histogram({
      name: 'hermes_contract_update_duration_seconds',
      help: "Time for a contract's Workflow Update to answer (bid, deliver, accept, reject, award, cancel, closeBidding), by result: accepted, rejected (a validator or the workflow said no), unavailable (Temporal did not answer in time), error.",
      labelNames: ['update', 'result'] as const,
      buckets: [...SECONDS, 20],
      registers: [registry],
    }),
  };
}
export type ContractUpdateMetrics = ReturnType<typeof contractUpdateMetrics>;

/**
 * Gauges from Postgres, read when scraped, at most once per `refreshMs` however many scrapers
 * ask (the last figures are served in between). Each query reads an index or a small table,
 * except the ledger sums, which read ledger_entries: at millions of rows they belong in a
 * summary table kept by postLedger.
 */
export function databaseGauges(registry: Registry, opts: { knex: Knex; log: Logger; refreshMs: number }) {
  const contracts = new Gauge({
    name: 'hermes_contracts',
    help: 'Contracts in Postgres by status (not deleted).',
    labelNames: ['status'] as const,
    registers: [registry],
    // prom-client collects every metric at once: each of the three waits for the one read.
    collect: refresh,
  });
  const ledger = new Gauge({
    name: 'hermes_ledger_balance_cents',
    help: 'Ledger balance per account kind and currency, in minor units: user_escrow captured and not yet settled or refunded, agent_wallet owed to agent owners, platform_revenue fees earned, stripe_clearing minus the money held (the four sum to 0 per currency).',
    labelNames: ['account', 'currency'] as const,
    registers: [registry],
    collect: refresh,
  });
  const wallets = new Gauge({
    name: 'hermes_agent_wallets_balance_cents',
    help: "Agent owners' wallet balances (the cached sums), per currency; equals hermes_ledger_balance_cents{account=\"agent_wallet\"}.",
    labelNames: ['currency'] as const,
    registers: [registry],
    collect: refresh,
  });
  const failures = new Counter({
    name: 'hermes_metrics_database_errors_total',
    help: 'Scrapes whose database gauges could not be read (the previous figures were served).',
    registers: [registry],
  });

  let refreshedAt = -Infinity;
  let inFlight: Promise<void> | null = null;
  async function read() {
    // One connection, one query at a time; a scrape must not hold up the database it reports on.
    const [byStatus, byAccount, byCurrency] = await opts.knex.transaction(async (trx) => {
      await trx.raw("SET LOCAL statement_timeout = '2s'");
      const statuses = (await trx('contracts').whereNull('deleted_at').groupBy('status').select('status').count({ n: '*' })) as unknown as { status: ContractStatus; n: string }[];
      const accounts = (await trx('ledger_entries').groupBy('account', 'currency').select('account', 'currency').sum({ cents: 'amount_cents' })) as unknown as { account: string; currency: string; cents: string }[];
      const currencies = (await trx('agent_wallets').groupBy('currency').select('currency').sum({ cents: 'balance_cents' })) as unknown as { currency: string; cents: string }[];
      return [statuses, accounts, currencies] as const;
    });
    const counts = new Map(byStatus.map((r) => [r.status, Number(r.n)]));
    for (const status of CONTRACT_STATUSES) contracts.set({ status }, counts.get(status) ?? 0);
    ledger.reset();
    for (const r of byAccount) ledger.set({ account: r.account, currency: r.currency.trim() }, Number(r.cents));
    wallets.reset();
    for (const r of byCurrency) wallets.set({ currency: r.currency.trim() }, Number(r.cents));
    refreshedAt = Date.now();
  }
  async function refresh() {
    if (Date.now() - refreshedAt < opts.refreshMs) return;
    inFlight ??= read()
      .catch((err) => {
        failures.inc();
        opts.log.warn({ err }, 'metrics: reading the database gauges failed');
      })
      .finally(() => (inFlight = null));
    await inFlight;
  }
  return { contracts, ledger, wallets };
}

// ---- Main worker ----

export function contractMetrics(registry: Registry) {
  return {
    started: new Counter({
      name: 'hermes_contracts_started_total',
      help: 'Contracts persisted by their workflow (each counted once, when its row is created).',
      registers: [registry],
    }),
    ended: new Counter({
      name: 'hermes_contracts_ended_total',
      help: 'Contracts that reached a final status (SETTLED, EXPIRED, CANCELLED, FAILED), by status and failure_reason ("none" unless FAILED); each counted once, when the transition commits.',
      labelNames: ['status', 'failure_reason'] as const,
      registers: [registry],
    }),
  };
}
export type ContractMetrics = ReturnType<typeof contractMetrics>;

/** Counts a committed transition into a final status; anything else is not an end. */
export function countEnded(m: ContractMetrics, status: ContractStatus, failureReason: string | null | undefined) {
  if (!TERMINAL_STATUSES.includes(status)) return;
  m.ended.inc({ status, failure_reason: status === 'FAILED' ? (failureReason ?? 'unknown') : 'none' });
}

export function escrowMetrics(registry: Registry) {
  return {
    operations: new Counter({
      name: 'hermes_escrow_operations_total',
      help: 'Escrow activity executions (each Temporal attempt) by kind (hold, confirm, fail, capture, void, refund, settle) and result: ok, declined (card declined), invalid (Stripe refused the request), error (retried: Stripe or Postgres unreachable), or another failure type in lower case.',
      labelNames: ['kind', 'result'] as const,
      registers: [registry],
    }),
    duration: new Histogram({
      name: 'hermes_escrow_operation_duration_seconds',
      help: 'Time of one escrow activity execution (Stripe call and Postgres transaction), by kind.',
      labelNames: ['kind'] as const,
      buckets: SECONDS,
      registers: [registry],
    }),
  };
}
export type EscrowMetrics = ReturnType<typeof escrowMetrics>;

/** What the main worker's activities record (activities/index.ts). */
export function activityMetrics(registry: Registry) {
  return { contracts: contractMetrics(registry), escrow: escrowMetrics(registry) };
}
export type ActivityMetrics = ReturnType<typeof activityMetrics>;

/**
 * Counts and times one escrow activity by kind and result. Wraps each activity whole, so a
 * Temporal retry is another operation: `error` rising is Stripe or Postgres failing.
 */
export function timedEscrow<A extends unknown[], R>(m: EscrowMetrics, kind: string, fn: (...args: A) => Promise<R>) {
  return async (...args: A): Promise<R> => {
    const timer = m.duration.startTimer({ kind });
    try {
      const result = await fn(...args);
      m.operations.inc({ kind, result: 'ok' });
      return result;
    } catch (err) {
      m.operations.inc({ kind, result: failureResult(err) });
      throw err;
    } finally {
      timer();
    }
  };
}

/** The result label for an activity's failure: its ApplicationFailure type, else `error`. */
export function failureResult(err: unknown): string {
  if (err instanceof ApplicationFailure && err.type) {
    if (err.type === 'PAYMENT_DECLINED') return 'declined';
    if (err.type === 'PAYMENT_INVALID') return 'invalid';
    return err.type.toLowerCase();
  }
  return 'error';
}

export function relayMetrics(registry: Registry) {
  return {
    published: new Counter({
      name: 'hermes_outbox_published_total',
      help: 'Events the outbox relay published to the Redis stream.',
      registers: [registry],
    }),
    delay: new Histogram({
      name: 'hermes_outbox_publish_delay_seconds',
      help: "Time from an event's commit (its outbox row) to its publication on the Redis stream.",
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers: [registry],
    }),
    leading: new Gauge({
      name: 'hermes_outbox_relay_leading',
      help: "1 while this process's relay holds the lock and publishes, 0 while it stands by.",
      registers: [registry],
    }),
  };
}
export type RelayMetrics = ReturnType<typeof relayMetrics>;

/** The outbox backlog from Postgres at scrape time: the relay's lag even when no relay runs. */
export function outboxBacklogGauges(registry: Registry, opts: { knex: Knex; log: Logger }) {
  new Gauge({
    name: 'hermes_outbox_oldest_unpublished_age_seconds',
    help: 'Age of the oldest committed event not yet published to the Redis stream (0 when none): how far real-time clients lag behind.',
    registers: [registry],
    async collect() {
      try {
        // The oldest id is the oldest row; the partial index on unpublished ids finds it at once.
        const row = await opts.knex(OUTBOX_TABLE).whereNull('published_at').orderBy('id').first(opts.knex.raw('extract(epoch from now() - created_at) AS age'));
        this.set(Math.max(0, Number(row?.age ?? 0)));
      } catch (err) {
        opts.log.warn({ err }, 'metrics: reading the outbox backlog failed');
      }
    },
  });
}

// ---- Sandbox worker ----

export function sandboxMetrics(registry: Registry) {
  return {
    runs: new Counter({
      name: 'hermes_sandbox_runs_total',
      help: 'Agent WASM runs by outcome: ok, exit_nonzero, trap, fuel_exhausted, timeout, memory_limit, output_limit, cancelled, error (the binary was refused: hash mismatch or invalid module).',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    duration: new Histogram({
      name: 'hermes_sandbox_run_duration_seconds',
      help: "Wall-clock time of one agent run in wasmtime, by outcome.",
      labelNames: ['outcome'] as const,
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 120, 300],
      registers: [registry],
    }),
    fuel: new Histogram({
      name: 'hermes_sandbox_run_fuel',
      help: 'Fuel (wasmtime instructions metered) one agent run consumed, by outcome; not observed with SANDBOX_METERING=epoch.',
      labelNames: ['outcome'] as const,
      // 10^4 … 10^10: a hello-world to past the default 2·10^9 budget.
      buckets: [1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 2e9, 1e10],
      registers: [registry],
    }),
    cpu: new Histogram({
      name: 'hermes_sandbox_run_cpu_seconds',
      help: 'CPU time one agent run took (instantiation, guest code, WASI calls), by outcome; its cost whatever SANDBOX_METERING is.',
      labelNames: ['outcome'] as const,
      buckets: [0.0001, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 120, 300],
      registers: [registry],
    }),
  };
}
export type SandboxMetrics = ReturnType<typeof sandboxMetrics>;
