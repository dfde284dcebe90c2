#!/usr/bin/env bash
# `npm run bench:trust`: a throwaway Postgres, migrated, then bench/trust.ts.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$HERMES_ROOT/scripts/services.sh"
ensure_debian_packages
ensure_node_modules
RUN_DIR="$(mktemp -d /tmp/hermes-bench.XXXXXX)"; chmod 755 "$RUN_DIR"
trap 'stop_services; rm -rf "$RUN_DIR"' EXIT
PG_FSYNC=off start_postgres "$RUN_DIR/postgres" "${HERMES_BENCH_PG_PORT:-55532}"
cd "$HERMES_ROOT"
LOG_LEVEL=silent node_modules/.bin/tsx scripts/migrate.ts >/dev/null
LOG_LEVEL=silent node_modules/.bin/tsx bench/trust.ts
