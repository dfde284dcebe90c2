import { Redis } from 'ioredis';
import type { Knex } from 'knex';
import { createTemporalClient } from '../../lib/temporal';
import { EVENTS_STREAM, parseEntry } from '../../lib/events';
import type { Config } from '../../lib/config';
import type { Cast } from './actors';
import type { Http } from './http';

// What is true after the run, read from outside (each owner's GET /contracts/:id), from the
// database, from Temporal (is the workflow closed?) and from the event stream.

export interface LedgerTx {
  id: string;
  kind: string;
  idempotency_key: string;
  lines: { account: string; account_id: string | null; amount_cents: number }[];
}

export interface ContractTruth {
  id: string;
  /** The owner's GET /contracts/:id: its HTTP status and body. */
  apiStatus: number;
  api: any | null;
  db: any | null;
  bids: any[];
  deliveries: any[];
  payments: any[];
  paymentEvents: any[];
  ledger: LedgerTx[];
  metrics: any[];
  /** task_results rows of sandbox runs that succeeded. */
  okRuns: number;
  workflowStatus: string | null;
  /** contract:status events in the stream, in order. */
  streamStatuses: string[];
}

export interface Truth {
  contracts: Map<string, ContractTruth>;
  /** Contracts of the run's owners that exist in the database. */
  dbContractIds: string[];
  wallets: { user_id: string; balance_cents: number }[];
  walletLedger: Map<string, number>;
  ledgerTotal: number;
  unbalancedTransactions: { transaction_id: string; total: number }[];
  /** contract:new events, by contract, with the capability rooms they went to. */
  announcements: Map<string, string[]>;
}

export async function collectTruth(opts: { http: Http; knex: Knex; config: Config; cast: Cast; created: Set<string> }): Promise<Truth> {
  const { knex, cast } = opts;
  const ownerIds = cast.owners.map((o) => o.id);
  const dbContracts = await knex('contracts').whereIn('user_id', ownerIds);
  const ids = [...new Set([...opts.created, ...dbContracts.map((c) => c.id as string)])];
  const byContract = async (table: string) => groupBy(await knex(table).whereIn('contract_id', ids), 'contract_id');
  const [bids, deliveries, payments, paymentEvents, metrics] = await Promise.all([
    byContract('bids'),
    byContract('deliveries'),
    byContract('payments'),
    byContract('payment_events'),
    byContract('agent_metrics'),
  ]);
  const okRuns = groupBy(await knex('task_results').whereIn('contract_id', ids).where({ outcome: 'ok' }), 'contract_id');
  const txs = await knex('ledger_transactions').whereIn('contract_id', ids);
  const entries = groupBy(await knex('ledger_entries').whereIn('transaction_id', txs.map((t) => t.id)).orderBy('line'), 'transaction_id');
  const ledger = groupBy(
    txs.map((t) => ({ id: t.id, kind: t.kind, idempotency_key: t.idempotency_key, contract_id: t.contract_id, lines: entries.get(t.id) ?? [] })),
    'contract_id',
  );

  const stream = await readStream(opts.config);
  const temporal = await createTemporalClient(opts.config);
  const contracts = new Map<string, ContractTruth>();
  for (const id of ids) {
    const row = dbContracts.find((c) => c.id === id) ?? (await knex('contracts').where({ id }).first()) ?? null;
    const owner = cast.owners.find((o) => o.id === row?.user_id) ?? cast.owners[0]!;
    const res = await opts.http.call('GET', `/contracts/${id}`, { actor: 'verifier', credentials: { token: owner.token }, contractId: id });
    const workflowStatus = await temporal.workflow
      .getHandle(`contract-${id}`)
      .describe()
      .then((d) => d.status.name, () => null);
    contracts.set(id, {
      id,
      apiStatus: res.status,
      api: res.status === 200 ? res.body : null,
      db: row,
      bids: bids.get(id) ?? [],
      deliveries: deliveries.get(id) ?? [],
      payments: payments.get(id) ?? [],
      paymentEvents: paymentEvents.get(id) ?? [],
      ledger: ledger.get(id) ?? [],
      metrics: metrics.get(id) ?? [],
      okRuns: okRuns.get(id)?.length ?? 0,
      workflowStatus,
      streamStatuses: stream.statuses.get(id) ?? [],
    });
  }
  await temporal.connection.close();

  const walletSums: { account_id: string; total: number }[] = (
    await knex.raw("SELECT account_id, sum(amount_cents) AS total FROM ledger_entries WHERE account = 'agent_wallet' GROUP BY account_id")
  ).rows;
  const total = Number((await knex.raw('SELECT coalesce(sum(amount_cents), 0) AS total FROM ledger_entries')).rows[0].total);
  const unbalanced: { transaction_id: string; total: number }[] = (
    await knex.raw('SELECT transaction_id, sum(amount_cents) AS total FROM ledger_entries GROUP BY transaction_id HAVING sum(amount_cents) <> 0')
  ).rows;
  return {
    contracts,
    dbContractIds: dbContracts.map((c) => c.id),
    wallets: (await knex('agent_wallets').select('user_id', 'balance_cents')).map((w) => ({ user_id: w.user_id, balance_cents: Number(w.balance_cents) })),
    walletLedger: new Map(walletSums.map((w) => [w.account_id, Number(w.total)])),
    ledgerTotal: total,
    unbalancedTransactions: unbalanced.map((u) => ({ transaction_id: u.transaction_id, total: Number(u.total) })),
    announcements: stream.announcements,
  };
}

async function readStream(config: Config) {
  const redis = new Redis(config.REDIS_URL);
  const statuses = new Map<string, string[]>();
  const announcements = new Map<string, string[]>();
  try {
    let from = '-';
    for (;;) {
      const entries = (await redis.xrange(EVENTS_STREAM, from, '+', 'COUNT', 5000)) as [string, string[]][];
      for (const entry of entries) {
        const e = parseEntry(entry);
        const contractId = e.data.contract_id as string | undefined;
        if (!contractId) continue;
        if (e.type === 'contract:status') statuses.set(contractId, [...(statuses.get(contractId) ?? []), e.data.status as string]);
        if (e.type === 'contract:new') announcements.set(contractId, e.rooms);
      }
      if (entries.length < 5000) break;
      from = `(${entries[entries.length - 1]![0]}`;
    }
  } finally {
    redis.disconnect();
  }
  return { statuses, announcements };
}

function groupBy<T extends Record<string, any>>(rows: T[], key: string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const r of rows) m.set(r[key], [...(m.get(r[key]) ?? []), r]);
  return m;
}
