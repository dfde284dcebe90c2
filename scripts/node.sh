#!/usr/bin/env bash
# `npm run api`, `npm run migrate` and the other one-command scripts: run the command on the
# Node that `npm start` uses (Node 24, see ensure_node), not on whatever npm was started with.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ensure_node
exec "$@"
