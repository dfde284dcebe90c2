#!/usr/bin/env bash
# `npm run record-history`: re-record test/fixtures/histories/contract-settled.json.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ensure_python_tools
ensure_node_modules
cd "$HERMES_ROOT" && TEMPORAL_TEST_SERVER="$TEMPORAL_TEST_SERVER" npx tsx scripts/record-history.ts
