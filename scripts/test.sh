#!/usr/bin/env bash
# `npm test`: install what is missing, start throwaway services on test ports, migrate,
# typecheck, run the whole vitest suite, stop everything. Extra arguments go to vitest.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$HERMES_ROOT/scripts/services.sh"
started=$SECONDS

ensure_all
ensure_schemathesis
log "tools ready in $((SECONDS - started))s"

RUN_DIR="$(mktemp -d /tmp/hermes-test.XXXXXX)"; chmod 755 "$RUN_DIR"
trap 'stop_services; rm -rf "$RUN_DIR"' EXIT

# Test ports sit apart from the dev stack's, so both can run at once, and below Linux's
# ephemeral range (32768+), where outgoing connections could already hold them.
PG_FSYNC=off start_postgres "$RUN_DIR/postgres" "${HERMES_TEST_PG_PORT:-25432}"
start_redis "$RUN_DIR/redis" "${HERMES_TEST_REDIS_PORT:-26379}" no
start_stripe_mock "$RUN_DIR/stripe" "${HERMES_TEST_STRIPE_PORT:-12199}"
start_seaweedfs "$RUN_DIR/seaweedfs" "${HERMES_TEST_SEAWEEDFS_BASE_PORT:-28300}"
start_temporal "$RUN_DIR/temporal" "${HERMES_TEST_TEMPORAL_PORT:-27233}" "${HERMES_TEST_TEMPORAL_UI_PORT:-28233}"
log "services up in $((SECONDS - started))s"

export NODE_ENV=test LOG_LEVEL="${LOG_LEVEL:-silent}" TEMPORAL_TEST_SERVER S3_BUCKET=hermes-test
cd "$HERMES_ROOT"
npx tsx scripts/migrate.ts
npx tsc --noEmit -p .
# The JSON report gives the plain closing line ("N passed, N failed") that CI reads;
# vitest's own summary is not one of the formats it knows.
set +e
npx vitest run --reporter=default --reporter=json --outputFile.json="$RUN_DIR/vitest.json" "$@"
rc=$?
set -e
log "suite finished in $((SECONDS - started))s"
if [[ -s "$RUN_DIR/vitest.json" ]]; then
  node -e '
    const r = require(process.argv[1]);
    const skipped = r.numPendingTests + r.numTodoTests;
    const rc = Number(process.argv[2]);
    // Unhandled errors fail the run without failing a test: say so, or the line reads as a pass.
    const other = rc !== 0 && r.numFailedTests === 0 ? `; the run failed (exit ${rc}): see the errors above` : "";
    console.log(`vitest: ${r.numPassedTests} passed, ${r.numFailedTests} failed` + (skipped ? `, ${skipped} skipped` : "") + other);
  ' "$RUN_DIR/vitest.json" "$rc"
fi
exit "$rc"
