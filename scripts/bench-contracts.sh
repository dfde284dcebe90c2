#!/usr/bin/env bash
# `npm run bench:contracts`: a throwaway stack on its own ports (Postgres, Redis, stripe-mock,
# SeaweedFS, Temporal), migrated, then bench/contracts/main.ts, which runs the API, the main
# worker, the reference worker and a bare read server as its children and prints the table.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$HERMES_ROOT/scripts/services.sh"
ensure_all
RUN_DIR="$(mktemp -d /tmp/hermes-bench.XXXXXX)"; chmod 755 "$RUN_DIR"
trap 'stop_services; rm -rf "$RUN_DIR"' EXIT
trap 'exit 130' INT TERM
PG_FSYNC=off start_postgres "$RUN_DIR/postgres" "${BENCH_PG_PORT:-25592}"
start_redis "$RUN_DIR/redis" "${BENCH_REDIS_PORT:-26539}" no
start_stripe_mock "$RUN_DIR/stripe" "${BENCH_STRIPE_PORT:-12359}"
BENCH_STRIPE_PID="${STOP_ACTIONS[${#STOP_ACTIONS[@]} - 1]#kill_wait }"
start_seaweedfs "$RUN_DIR/seaweedfs" "${BENCH_SEAWEEDFS_BASE_PORT:-29100}"
start_temporal "$RUN_DIR/temporal" "${BENCH_TEMPORAL_PORT:-27393}" "${BENCH_TEMPORAL_UI_PORT:-28393}"
BENCH_TEMPORAL_PID="${STOP_ACTIONS[${#STOP_ACTIONS[@]} - 1]#kill_wait }"
export BENCH_PG_DIR="$RUN_DIR/postgres" BENCH_TEMPORAL_PID BENCH_STRIPE_PID S3_BUCKET=hermes-bench
cd "$HERMES_ROOT"
LOG_LEVEL=silent npx tsx scripts/migrate.ts >/dev/null
# The main worker starts from a bundle, as `npm start` runs it.
export WORKFLOW_BUNDLE_PATH="$RUN_DIR/workflows.js"
npx tsx scripts/build-workflows.ts "$WORKFLOW_BUNDLE_PATH"
"$HERMES_ROOT/node_modules/.bin/tsx" bench/contracts/main.ts
