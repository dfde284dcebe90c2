#!/usr/bin/env bash
# `npm run chaos`: a throwaway stack on its own ports; a few hundred contracts driven over every
# path while the main worker is SIGKILLed every few seconds, the API killed and Temporal and
# Postgres restarted; then checks from the API and the database, a table of figures, and a
# non-zero exit when a check fails. Settings: CHAOS_* variables (scripts/chaos/settings.ts).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$HERMES_ROOT/scripts/services.sh"
source "$HERMES_ROOT/scripts/chaos/stack.sh"
started=$SECONDS

ensure_all
CHAOS_RUN_DIR="$(mktemp -d /tmp/hermes-chaos.XXXXXX)"; chmod 755 "$CHAOS_RUN_DIR"; export CHAOS_RUN_DIR
mkdir -p "$CHAOS_RUN_DIR/logs"
rc=1
finish() {
  chaos_stop_stack
  # Logs and data stay for a look when something failed.
  if [ "$rc" = 0 ] && [ -z "${CHAOS_KEEP:-}" ]; then rm -rf "$CHAOS_RUN_DIR"; else log "kept $CHAOS_RUN_DIR (logs/: api, worker, sandbox, driver)"; fi
}
trap finish EXIT
trap 'exit 130' INT TERM

chaos_start_stack
log "chaos stack up in $((SECONDS - started))s (state in $CHAOS_RUN_DIR)"

cd "$HERMES_ROOT"
npx tsx scripts/migrate.ts
# The worker starts from one bundle of the workflow code, as a deployed worker does: restarts
# take seconds, not the ~30 s webpack takes on a busy 2-core machine.
export WORKFLOW_BUNDLE_PATH="$CHAOS_RUN_DIR/workflows.js"
npx tsx scripts/build-workflows.ts "$WORKFLOW_BUNDLE_PATH"
export PG_BIN TEMPORAL_CLI SANDBOX_ADDON_PATH EXAMPLE_AGENTS_DIR
set +e
"$HERMES_ROOT/node_modules/.bin/tsx" scripts/chaos/main.ts
rc=$?
set -e
log "chaos run finished in $((SECONDS - started))s (exit $rc)"
exit "$rc"
