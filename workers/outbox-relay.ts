import type { Redis } from 'ioredis';
import pg from 'pg';
import { EVENTS_STREAM, xaddArgs, type EventType } from '../lib/events';
import type { Logger } from '../lib/logger';
import type { RelayMetrics } from '../lib/metrics';
import { OUTBOX_CHANNEL, OUTBOX_TABLE } from '../lib/outbox';

// Moves committed outbox rows (lib/outbox.ts) to the Redis stream, in id order, and stamps them
// published. One relay publishes at a time: the one holding a session advisory lock on its own
// connection; others wait as standbys and take over within `standbyMs` when it goes (its lock
// goes with its connection). It wakes on NOTIFY and polls every `pollMs` as a fallback.
//
// At-least-once, and in practice once: a row is stamped after its XADD, so a relay that dies in
// between leaves it unstamped; the next leader first looks for such rows at the stream's tail
// (each entry carries its outbox id) and stamps them instead of publishing them again.

/** Key of the leader's advisory lock (any constant; "hermes:outbox" as two 32-bit halves). */
const LOCK = [0x6865726d, 0x6f757462] as const;

export interface OutboxRelayOptions {
  databaseUrl: string;
  redis: Redis;
  /** The stream's approximate MAXLEN (EVENTS_RETENTION). */
  retention: number;
  log: Logger;
  stream?: string;
  pollMs?: number;
  standbyMs?: number;
  batch?: number;
  /** Published rows are deleted this long after publication. */
  keepPublishedMs?: number;
  /** Publications, their delay since commit, and whether this relay leads (the worker's /metrics). */
  metrics?: RelayMetrics;
}

interface OutboxRow {
  id: string;
  type: EventType;
  rooms: string[];
  payload: Record<string, unknown>;
}

export interface OutboxRelay {
  /** Whether this relay currently holds the lock and publishes. */
  readonly leading: boolean;
  stop(): Promise<void>;
}

export function startOutboxRelay(o: OutboxRelayOptions): OutboxRelay {
  const { redis, retention, log, metrics } = o;
  const stream = o.stream ?? EVENTS_STREAM;
  const pollMs = o.pollMs ?? 1_000;
  const standbyMs = o.standbyMs ?? 1_000;
  const batch = o.batch ?? 200;
  const keepPublishedMs = o.keepPublishedMs ?? 3_600_000;
  const pruneEveryMs = Math.min(60_000, keepPublishedMs);

  let running = true;
  let leading = false;
  // A wake-up that arrives while a drain runs is kept, so the next pause returns at once.
  let woken = false;
  let interrupt: (() => void) | null = null;
  const wake = () => {
    woken = true;
    interrupt?.();
  };
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      if (woken || !running) return resolve();
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        interrupt = null;
        resolve();
      }
      interrupt = done;
    }).then(() => void (woken = false));

  const entryJson = (r: OutboxRow) => JSON.stringify({ type: r.type, rooms: r.rooms, data: r.payload });

  // Rows the previous leader published but did not live to stamp: the same outbox id and the
  // same event at the stream's tail.
  async function adoptPublished(db: pg.Client) {
    const tail = (await redis.xrevrange(stream, '+', '-', 'COUNT', batch * 5)) as [string, string[]][];
    const seen = new Map<string, { streamId: string; event: string }>();
    for (const [streamId, fields] of tail) {
      const at = fields.indexOf('outbox_id');
      if (at >= 0) seen.set(fields[at + 1]!, { streamId, event: fields[fields.indexOf('event') + 1]! });
    }
    if (seen.size === 0) return;
    const { rows } = await db.query<OutboxRow>(
      `SELECT id::text AS id, type, rooms, payload FROM ${OUTBOX_TABLE} WHERE published_at IS NULL AND id = ANY($1::bigint[])`,
      [[...seen.keys()]],
    );
    const adopted = rows.filter((r) => seen.get(r.id)!.event === entryJson(r));
    if (adopted.length) {
      await stamp(db, adopted.map((r) => r.id), adopted.map((r) => seen.get(r.id)!.streamId));
      log.info({ rows: adopted.length }, 'outbox rows found already published');
    }
  }

  /** Stamps rows published; returns each one's seconds from commit to publication, by the database's clock. */
  async function stamp(db: pg.Client, ids: string[], streamIds: string[]): Promise<number[]> {
    const { rows } = await db.query<{ delay: number }>(
      `UPDATE ${OUTBOX_TABLE} o SET published_at = now(), stream_id = v.stream_id
         FROM unnest($1::bigint[], $2::text[]) AS v(id, stream_id) WHERE o.id = v.id
       RETURNING extract(epoch from o.published_at - o.created_at)::float8 AS delay`,
      [ids, streamIds],
    );
    return rows.map((r) => r.delay);
  }

  /** Publishes one batch; returns how many rows it moved. */
  async function drainOnce(db: pg.Client): Promise<number> {
    const { rows } = await db.query<OutboxRow>(
      `SELECT id::text AS id, type, rooms, payload FROM ${OUTBOX_TABLE} WHERE published_at IS NULL ORDER BY id LIMIT $1`,
      [batch],
    );
    if (rows.length === 0) return 0;
    // One MULTI: the batch lands in the stream whole and in order.
    const tx = redis.multi();
    for (const r of rows) tx.xadd(...xaddArgs(stream, retention, { type: r.type, rooms: r.rooms, data: r.payload }, r.id));
    const results = (await tx.exec()) ?? [];
    const streamIds = results.map(([err, id], i) => {
      if (err) throw new Error(`XADD of outbox row ${rows[i]!.id} failed: ${err.message}`);
      return id as string;
    });
    if (streamIds.length !== rows.length) throw new Error('the stream transaction was discarded');
    const delays = await stamp(db, rows.map((r) => r.id), streamIds);
    for (const d of delays) metrics?.delay.observe(Math.max(0, d));
    metrics?.published.inc(rows.length);
    return rows.length;
  }

  async function prune(db: pg.Client) {
    await db.query(`DELETE FROM ${OUTBOX_TABLE} WHERE published_at < now() - make_interval(secs => $1)`, [keepPublishedMs / 1000]);
  }

  async function lead(db: pg.Client) {
    await db.query(`LISTEN ${OUTBOX_CHANNEL}`);
    leading = true;
    metrics?.leading.set(1);
    log.info('outbox relay leading');
    await adoptPublished(db);
    let prunedAt = 0;
    while (running) {
      woken = false;
      // A full batch means there may be more.
      while (running && (await drainOnce(db)) === batch) {
        woken = false;
      }
      if (Date.now() - prunedAt >= pruneEveryMs) {
        await prune(db);
        prunedAt = Date.now();
      }
      await pause(pollMs);
    }
  }

  const loop = (async () => {
    while (running) {
      const db = new pg.Client({ connectionString: o.databaseUrl });
      // A dropped connection fails the next query; waking makes that happen now.
      db.on('error', wake);
      db.on('notification', wake);
      try {
        await db.connect();
        while (running) {
          const { rows } = await db.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, $2) AS ok', [...LOCK]);
          if (rows[0]!.ok) break;
          await pause(standbyMs);
        }
        if (running) await lead(db);
      } catch (err) {
        if (running) log.warn({ err }, 'outbox relay failed; reconnecting');
      } finally {
        if (leading) log.info('outbox relay stopped leading');
        leading = false;
        metrics?.leading.set(0);
        // Closing the session releases the lock for a standby.
        await db.end().catch(() => undefined);
      }
      if (running) await pause(standbyMs);
    }
  })();

  return {
    get leading() {
      return leading;
    },
    async stop() {
      running = false;
      wake();
      await loop;
    },
  };
}
