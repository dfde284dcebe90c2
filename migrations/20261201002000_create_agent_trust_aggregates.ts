import type { Knex } from 'knex';

// Per-agent running aggregates of agent_metrics: everything domain/trust.ts needs, kept so a
// settlement re-scores its agent from one row instead of scanning the agent's history.
//
// agent_metrics is append-only in practice (one row per contract outcome, ON CONFLICT DO
// NOTHING). An AFTER INSERT statement trigger folds the rows a statement actually inserted
// (its transition table: a conflicting, skipped row is not in it, so a retried activity
// counts nothing twice) into the aggregates, in the same transaction, grouped by agent, so a
// single-row insert and a bulk insert of a million rows go through the same code. An UPDATE
// or DELETE of metric rows (not done by Hermes; an operator's repair) re-folds the agents it
// touched from agent_metrics. hermes_trust_rebuild() is that set-based fold for some or all
// agents; the migration runs it once to backfill the existing history.
//
// Exactness: the counts and integer sums are exact; latency_sum adds numeric terms (exact
// decimal addition, so the order of arrival does not matter) and duration sums are in integer
// milliseconds, so the incremental and the rebuilt aggregates are equal digit for digit.
//
// recent_days is the uptime window's raw material: for each UTC day with an outcome in the
// last 31 days (the 30-day window plus one day of slack for a score computed "as of" a
// moment shortly before the write), the latest recorded_at of that day. A day is active in
// the window (now − 30 days, now] iff that latest timestamp is in it (metric rows are never
// recorded after the moment a score is computed for). At most 32 entries: O(1).
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('agent_trust_aggregates', (t) => {
    t.uuid('agent_id').primary().references('agents.id').onDelete('CASCADE');
    t.integer('outcomes').notNullable().defaultTo(0);
    t.integer('successes').notNullable().defaultTo(0);
    // Successes with a promised ETA and an actual time, and the sum of their latency terms.
    t.integer('latency_count').notNullable().defaultTo(0);
    t.specificType('latency_sum', 'numeric').notNullable().defaultTo(0);
    t.integer('rating_count').notNullable().defaultTo(0);
    t.bigInteger('rating_sum').notNullable().defaultTo(0);
    // Timed successes: work time in ms (sandbox run time, else time to deliver), Σd and Σd².
    t.integer('duration_count').notNullable().defaultTo(0);
    t.bigInteger('duration_sum_ms').notNullable().defaultTo(0);
    t.specificType('duration_sumsq_ms', 'numeric').notNullable().defaultTo(0);
    t.bigInteger('earnings_cents').notNullable().defaultTo(0);
    t.specificType('recent_days', 'timestamptz[]').notNullable().defaultTo('{}');
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });

  // The per-row terms, one definition for the trigger and the rebuild.
  await knex.raw(`
    CREATE FUNCTION hermes_trust_latency_term(outcome metric_outcome, eta integer, actual integer) RETURNS numeric
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
      SELECT CASE WHEN outcome = 'success' AND eta > 0 AND actual IS NOT NULL THEN
        CASE WHEN actual <= eta THEN 1.0 ELSE greatest(0, 1 - (actual - eta)::numeric / eta) END END
    $$`);
  await knex.raw(`
    CREATE FUNCTION hermes_trust_duration_ms(outcome metric_outcome, execution_ms integer, actual_seconds integer) RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
      SELECT CASE WHEN outcome = 'success' THEN coalesce(execution_ms::bigint, actual_seconds::bigint * 1000) END
    $$`);
  // The latest timestamp of each UTC day after \`since\`, ascending.
  await knex.raw(`
    CREATE FUNCTION hermes_trust_recent_days(days timestamptz[], since timestamptz) RETURNS timestamptz[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
      SELECT coalesce(array_agg(last ORDER BY last), '{}') FROM (
        SELECT max(ts) AS last FROM unnest(days) ts WHERE ts > since GROUP BY (ts AT TIME ZONE 'UTC')::date
      ) d
    $$`);

  // The fold of a set of metric rows, grouped by agent (ordered, so concurrent bulk inserts
  // lock aggregate rows in the same order).
  const fold = (rows: string, at: string) => `
    SELECT agent_id,
      count(*)::int, (count(*) FILTER (WHERE outcome = 'success'))::int,
      count(lat)::int, coalesce(sum(lat), 0),
      count(rating)::int, coalesce(sum(rating), 0),
      count(dur)::int, coalesce(sum(dur), 0), coalesce(sum(dur::numeric * dur), 0),
      coalesce(sum(price_cents) FILTER (WHERE outcome = 'success'), 0),
      hermes_trust_recent_days(array_agg(recorded_at) FILTER (WHERE recorded_at > ${at} - interval '31 days'), ${at} - interval '31 days'),
      now()
    FROM (
      SELECT r.agent_id, r.outcome, r.rating, r.price_cents, r.recorded_at,
        hermes_trust_latency_term(r.outcome, r.promised_eta_seconds, r.actual_seconds) AS lat,
        hermes_trust_duration_ms(r.outcome, r.execution_ms, r.actual_seconds) AS dur
      FROM ${rows} r
    ) r
    GROUP BY agent_id ORDER BY agent_id`;
  const columns = `(agent_id, outcomes, successes, latency_count, latency_sum, rating_count, rating_sum,
    duration_count, duration_sum_ms, duration_sumsq_ms, earnings_cents, recent_days, updated_at)`;

  await knex.raw(`
    CREATE FUNCTION hermes_trust_fold_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO agent_trust_aggregates AS t ${columns}
      ${fold('new_rows', 'now()')}
      ON CONFLICT (agent_id) DO UPDATE SET
        outcomes = t.outcomes + excluded.outcomes,
        successes = t.successes + excluded.successes,
        latency_count = t.latency_count + excluded.latency_count,
        latency_sum = t.latency_sum + excluded.latency_sum,
        rating_count = t.rating_count + excluded.rating_count,
        rating_sum = t.rating_sum + excluded.rating_sum,
        duration_count = t.duration_count + excluded.duration_count,
        duration_sum_ms = t.duration_sum_ms + excluded.duration_sum_ms,
        duration_sumsq_ms = t.duration_sumsq_ms + excluded.duration_sumsq_ms,
        earnings_cents = t.earnings_cents + excluded.earnings_cents,
        recent_days = hermes_trust_recent_days(t.recent_days || excluded.recent_days, now() - interval '31 days'),
        updated_at = now();
      RETURN NULL;
    END $$`);

  // Set-based rebuild from agent_metrics for the given agents (NULL: all), as of \`at\`.
  // Dynamic SQL, so each call is planned for its own argument (an index scan for a few
  // agents, one sequential pass for all); the work_mem keeps a full pass's grouping of a
  // million rows in memory.
  await knex.raw(`
    CREATE FUNCTION hermes_trust_rebuild(ids uuid[], at timestamptz DEFAULT now()) RETURNS integer
    LANGUAGE plpgsql SET work_mem = '64MB' AS $fn$
    DECLARE n integer;
    BEGIN
      DELETE FROM agent_trust_aggregates g WHERE (ids IS NULL OR g.agent_id = ANY(ids))
        AND NOT EXISTS (SELECT 1 FROM agent_metrics m WHERE m.agent_id = g.agent_id);
      EXECUTE format($q$
        INSERT INTO agent_trust_aggregates AS t ${columns}
        ${fold('(SELECT * FROM agent_metrics WHERE %s) ', '$2')}
        ON CONFLICT (agent_id) DO UPDATE SET
          outcomes = excluded.outcomes, successes = excluded.successes,
          latency_count = excluded.latency_count, latency_sum = excluded.latency_sum,
          rating_count = excluded.rating_count, rating_sum = excluded.rating_sum,
          duration_count = excluded.duration_count, duration_sum_ms = excluded.duration_sum_ms,
          duration_sumsq_ms = excluded.duration_sumsq_ms, earnings_cents = excluded.earnings_cents,
          recent_days = excluded.recent_days, updated_at = excluded.updated_at
        $q$, CASE WHEN ids IS NULL THEN 'true' ELSE 'agent_id = ANY($1)' END)
      USING ids, at;
      GET DIAGNOSTICS n = ROW_COUNT;
      RETURN n;
    END $fn$`);

  await knex.raw(`
    CREATE FUNCTION hermes_trust_refold_updated() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM hermes_trust_rebuild(ARRAY(SELECT agent_id FROM old_rows UNION SELECT agent_id FROM new_rows));
      RETURN NULL;
    END $$`);
  await knex.raw(`
    CREATE FUNCTION hermes_trust_refold_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM hermes_trust_rebuild(ARRAY(SELECT DISTINCT agent_id FROM old_rows));
      RETURN NULL;
    END $$`);

  await knex.raw(`CREATE TRIGGER agent_metrics_trust_insert AFTER INSERT ON agent_metrics
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION hermes_trust_fold_inserted()`);
  await knex.raw(`CREATE TRIGGER agent_metrics_trust_update AFTER UPDATE ON agent_metrics
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION hermes_trust_refold_updated()`);
  await knex.raw(`CREATE TRIGGER agent_metrics_trust_delete AFTER DELETE ON agent_metrics
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION hermes_trust_refold_deleted()`);

  // Backfill from the history so far.
  await knex.raw('SELECT hermes_trust_rebuild(NULL)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TRIGGER agent_metrics_trust_insert ON agent_metrics');
  await knex.raw('DROP TRIGGER agent_metrics_trust_update ON agent_metrics');
  await knex.raw('DROP TRIGGER agent_metrics_trust_delete ON agent_metrics');
  await knex.raw(`DROP FUNCTION hermes_trust_fold_inserted(), hermes_trust_refold_updated(), hermes_trust_refold_deleted(),
    hermes_trust_rebuild(uuid[], timestamptz), hermes_trust_recent_days(timestamptz[], timestamptz),
    hermes_trust_duration_ms(metric_outcome, integer, integer), hermes_trust_latency_term(metric_outcome, integer, integer)`);
  await knex.schema.dropTable('agent_trust_aggregates');
}
