#!/usr/bin/env bash
# `npm start`: install what is missing, start Postgres, Redis, Temporal (with its UI) and
# stripe-mock and SeaweedFS, migrate, then run the API and the workers until Ctrl-C, which stops it all.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$HERMES_ROOT/scripts/services.sh"
started=$SECONDS

ensure_all

# State that must survive restarts (Postgres data, the Temporal SQLite file). Postgres runs
# as the postgres account when we are root, so keep it outside /root.
if [ "$(id -u)" = 0 ]; then default_state=/var/lib/hermes; else default_state="$HOME/.local/state/hermes"; fi
STATE_DIR="${HERMES_STATE_DIR:-$default_state}"
mkdir -p "$STATE_DIR/logs"; chmod 755 "$STATE_DIR"

children=()
shutdown() {
  trap - EXIT INT TERM
  log "stopping…"
  for pid in "${children[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${children[@]}"; do wait "$pid" 2>/dev/null || true; done
  stop_services
  log "stopped"
}
trap shutdown EXIT
trap 'exit 130' INT TERM

start_postgres "$STATE_DIR/postgres" "${HERMES_PG_PORT:-54320}"
# Migrate before Temporal starts. Hermes is unreleased and rewrites its migrations: a local
# database migrated by files that have changed since is recreated, saying so (local development
# databases only; scripts/migrate-dev.ts refuses anything else), and Temporal's local state goes
# with it, since its contracts lived in that database.
migrated=0
(cd "$HERMES_ROOT" && npx tsx scripts/migrate-dev.ts "$STATE_DIR/migrations.json") || migrated=$?
case "$migrated" in
  0) ;;
  3) log "the local dev database was recreated: clearing Temporal's local state (its workflows were for that data)"
     rm -f "$STATE_DIR/temporal/temporal.db" "$STATE_DIR/temporal/temporal.db-"* ;;
  *) die "migrating the local dev database failed (see above)" ;;
esac
start_redis "$STATE_DIR/redis" "${HERMES_REDIS_PORT:-63790}" yes
start_stripe_mock "$STATE_DIR/stripe" "${HERMES_STRIPE_PORT:-12111}"
start_seaweedfs "$STATE_DIR/seaweedfs" "${HERMES_SEAWEEDFS_BASE_PORT:-8327}"
start_temporal "$STATE_DIR/temporal" "${HERMES_TEMPORAL_PORT:-7233}" "${HERMES_TEMPORAL_UI_PORT:-8233}"

cd "$HERMES_ROOT"
export API_PORT="${API_PORT:-3000}" API_HOST="${API_HOST:-127.0.0.1}"
"$HERMES_ROOT/node_modules/.bin/tsx" workers/main.ts >> "$STATE_DIR/logs/worker.log" 2>&1 & children+=($!)
"$HERMES_ROOT/node_modules/.bin/tsx" workers/sandbox.ts >> "$STATE_DIR/logs/sandbox.log" 2>&1 & children+=($!)
"$HERMES_ROOT/node_modules/.bin/tsx" api/main.ts >> "$STATE_DIR/logs/api.log" 2>&1 & children+=($!)
wait_for "the API (see $STATE_DIR/logs/api.log)" 60 curl -sf "http://$API_HOST:$API_PORT/ready"

cat <<BANNER

  Hermes is running (ready in $((SECONDS - started))s)

    API           http://$API_HOST:$API_PORT/api/v1      (health: /health, /ready)
    Socket.IO     ws://$API_HOST:$API_PORT/socket.io     (agents: auth.apiKey, users: auth.token)
    Temporal UI   $TEMPORAL_UI_URL
    Temporal      $TEMPORAL_ADDRESS   (namespace default, task queue hermes-main)
    Postgres      $DATABASE_URL
    Redis         $REDIS_URL
    stripe-mock   $STRIPE_API_URL
    S3            $S3_ENDPOINT   (SeaweedFS, bucket ${S3_BUCKET:-hermes-agents})
    Agents (WASM) $EXAMPLE_AGENTS_DIR   (examples/agents/build)
    Logs          $STATE_DIR/logs/{api,worker,sandbox}.log   State: $STATE_DIR

  Ctrl-C stops everything.

BANNER

# If the API or the worker dies, take the rest down rather than run half a platform.
wait -n "${children[@]}"
log "a process exited; see $STATE_DIR/logs"
exit 1
