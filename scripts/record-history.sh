#!/usr/bin/env bash
# `npm run record-history -- <scenario>`: record a workflow history for the replay test.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ensure_python_tools
ensure_node_modules
cd "$HERMES_ROOT" && TEMPORAL_TEST_SERVER="$TEMPORAL_TEST_SERVER" npx tsx scripts/record-history.ts "$@"
