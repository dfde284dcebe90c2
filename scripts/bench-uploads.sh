#!/usr/bin/env bash
# `npm run bench:uploads`: throwaway Postgres, Redis, stripe-mock, SeaweedFS and Temporal on
# bench ports (HERMES_BENCH_*), migrated, then bench/uploads.ts, which starts the API and
# uploads compile bombs to it. Set SANDBOX_COMPILE_* to try other bounds.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$HERMES_ROOT/scripts/services.sh"
ensure_all
RUN_DIR="$(mktemp -d /tmp/hermes-bench.XXXXXX)"; chmod 755 "$RUN_DIR"
trap 'stop_services; rm -rf "$RUN_DIR"' EXIT
PG_FSYNC=off start_postgres "$RUN_DIR/postgres" "${HERMES_BENCH_PG_PORT:-55541}"
start_redis "$RUN_DIR/redis" "${HERMES_BENCH_REDIS_PORT:-55542}" no
start_stripe_mock "$RUN_DIR/stripe" "${HERMES_BENCH_STRIPE_PORT:-55543}"
start_seaweedfs "$RUN_DIR/seaweedfs" "${HERMES_BENCH_SEAWEEDFS_BASE_PORT:-55550}"
start_temporal "$RUN_DIR/temporal" "${HERMES_BENCH_TEMPORAL_PORT:-55544}" "${HERMES_BENCH_TEMPORAL_UI_PORT:-55545}"
cd "$HERMES_ROOT"
LOG_LEVEL=silent node_modules/.bin/tsx scripts/migrate.ts >/dev/null
S3_BUCKET=hermes-bench BENCH_API_PORT="${HERMES_BENCH_API_PORT:-55560}" node_modules/.bin/tsx bench/uploads.ts
