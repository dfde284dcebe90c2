#!/usr/bin/env bash
# `npm start`: install what is missing, start Postgres, Redis, Temporal (with its UI) and
# stripe-mock and SeaweedFS, migrate, then run the API and the workers until Ctrl-C, which stops it all.

# Stopping: npm passes SIGINT/SIGTERM to its child, but when that child is a `sh -c` wrapper
# the wrapper dies of it and this script never hears. So take SIGTERM when our parent dies
# (the kernel's parent-death signal, set before re-running this script in place).
if [ "${HERMES_START_PID:-}" != "$$" ]; then
  HERMES_START_PID=$$ exec setpriv --pdeathsig TERM -- bash "$0" "$@"
fi
unset HERMES_START_PID
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$HERMES_ROOT/scripts/services.sh"
started=$SECONDS

# The Node processes, each a process group of its own (see run_node).
children=()

# Every process still below this script (an install or migration a Ctrl-C interrupted).
descendants() { local c; for c in $(ps -o pid= --ppid "$1"); do descendants "$c"; echo "$c"; done; }

# TERM the given pids (negative: a whole process group), wait up to 10 s, then KILL what is left.
terminate() {
  (($#)) || return 0
  local p deadline=$((SECONDS + 10))
  kill -TERM -- "$@" 2>/dev/null || true
  for p in "$@"; do
    while kill -0 -- "$p" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
  done
  kill -KILL -- "$@" 2>/dev/null || true
}

shutdown() {
  # Ignore further signals: a second Ctrl-C, or npm's wrapper dying, must not cut this short.
  trap '' INT TERM; trap - EXIT
  log "stopping…"
  # The API and workers first, while Temporal and Postgres are still there for them to drain.
  terminate "${children[@]/#/-}"
  stop_services
  # shellcheck disable=SC2046 # one pid per word
  terminate $(descendants $$)
  log "stopped"
}
trap shutdown EXIT
trap 'trap "" INT TERM; exit 130' INT TERM

ensure_all

# State that must survive restarts (Postgres data, the Temporal SQLite file). Postgres runs
# as the postgres account when we are root, so keep it outside /root.
if [ "$(id -u)" = 0 ]; then default_state=/var/lib/hermes; else default_state="$HOME/.local/state/hermes"; fi
STATE_DIR="${HERMES_STATE_DIR:-$default_state}"
mkdir -p "$STATE_DIR/logs"; chmod 755 "$STATE_DIR"

# The worker starts from a bundle of today's workflow code, as a deployed one does; webpack
# runs while the services start.
# (Exported once built: the config refuses a path with no file, and the migration reads the config.)
bundle="$STATE_DIR/workflows.js"
rm -f "$bundle"
(cd "$HERMES_ROOT" && npx tsx scripts/build-workflows.ts "$bundle") &
bundling=$!

# A Node process in its own session and process group: a Ctrl-C at the terminal reaches only
# this script, which stops them in order, and one signal reaches tsx and the node it runs.
# The parent-death signal takes them down even if this script is killed outright.
run_node() { # <log> <script>
  setsid setpriv --pdeathsig TERM -- "$HERMES_ROOT/node_modules/.bin/tsx" "$2" >> "$1" 2>&1 &
  children+=($!)
}

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
# Each worker's /metrics (lib/config.ts has the same defaults; here for the banner).
export METRICS_HOST="${METRICS_HOST:-127.0.0.1}" WORKER_METRICS_PORT="${WORKER_METRICS_PORT:-9470}" SANDBOX_METRICS_PORT="${SANDBOX_METRICS_PORT:-9471}"
wait "$bundling" || die "bundling the workflow code failed (see above)"
export WORKFLOW_BUNDLE_PATH="$bundle"
run_node "$STATE_DIR/logs/worker.log" workers/main.ts
run_node "$STATE_DIR/logs/sandbox.log" workers/sandbox.ts
run_node "$STATE_DIR/logs/api.log" api/main.ts
wait_for "the API (see $STATE_DIR/logs/api.log)" 60 curl -sf "http://$API_HOST:$API_PORT/ready"

cat <<BANNER

  Hermes is running (ready in $((SECONDS - started))s)

    API           http://$API_HOST:$API_PORT/api/v1      (health: /health, /ready)
    Socket.IO     ws://$API_HOST:$API_PORT/socket.io     (agents: auth.api_key, users: auth.token)
    Temporal UI   $TEMPORAL_UI_URL
    Temporal      $TEMPORAL_ADDRESS   (namespace default, task queue hermes-main)
    Postgres      $DATABASE_URL
    Redis         $REDIS_URL
    stripe-mock   $STRIPE_API_URL
    S3            $S3_ENDPOINT   (SeaweedFS, bucket ${S3_BUCKET:-hermes-agents})
    Agents (WASM) $EXAMPLE_AGENTS_DIR   (examples/agents/build)
    Metrics       http://$API_HOST:$API_PORT/metrics   (API; Prometheus text, see "Operating Hermes")
                  http://$METRICS_HOST:$WORKER_METRICS_PORT/metrics   (main worker + Temporal SDK)
                  http://$METRICS_HOST:$SANDBOX_METRICS_PORT/metrics   (sandbox worker + Temporal SDK)
    Logs          $STATE_DIR/logs/{api,worker,sandbox}.log   State: $STATE_DIR

  Ctrl-C stops everything.

BANNER

# If the API or the worker dies, take the rest down rather than run half a platform.
wait -n "${children[@]}"
log "a process exited; see $STATE_DIR/logs"
exit 1
