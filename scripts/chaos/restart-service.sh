#!/usr/bin/env bash
# Restarts one service of a running chaos stack: `restart-service.sh temporal|postgres`.
# Called by the run (scripts/chaos/faults.ts) with the environment chaos.sh exported.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$HERMES_ROOT/scripts/services.sh"
source "$HERMES_ROOT/scripts/chaos/stack.sh"
: "${CHAOS_RUN_DIR:?run by npm run chaos}" "${PG_BIN:?}" "${TEMPORAL_CLI:?}"

case "${1:-}" in
  temporal)
    kill_wait "$(cat "$CHAOS_RUN_DIR/temporal.pid")"
    chaos_start_temporal
    ;;
  postgres)
    # Immediate: the server dies as in a crash and recovers from its WAL on start.
    pg_run "$PG_BIN/pg_ctl" -D "$CHAOS_RUN_DIR/postgres" -m immediate -w stop >/dev/null
    sleep "${CHAOS_PG_DOWN_SECONDS:-3}"
    chaos_start_postgres
    ;;
  *) die "usage: restart-service.sh temporal|postgres" ;;
esac
