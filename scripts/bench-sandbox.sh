#!/usr/bin/env bash
# `npm run bench:sandbox`: build bench/compute.c for WASI and natively (cached), then print
# the sandbox's per-run overhead and its compute speed against Node's WebAssembly and native.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ensure_debian_packages
ensure_node  # here, not only in the subshell below, so bench/sandbox.ts runs on it too
( ensure_node_modules ) & p1=$!
( ensure_sandbox_addon ) & p2=$!
wait $p1 && wait $p2 || die "an install step failed"
ensure_sandbox_addon

out="$HERMES_CACHE/bench/$(cat "$HERMES_ROOT/bench/compute.c" | sha256sum | cut -c1-16)"
if [ ! -x "$out/compute" ]; then
  mkdir -p "$out"
  clang-14 --target=wasm32-wasi --sysroot=/usr -O2 -o "$out/compute.wasm" "$HERMES_ROOT/bench/compute.c"
  gcc -O2 -o "$out/compute" "$HERMES_ROOT/bench/compute.c"
fi
cd "$HERMES_ROOT"
BENCH_COMPUTE_WASM="$out/compute.wasm" BENCH_COMPUTE_NATIVE="$out/compute" LOG_LEVEL=silent \
  exec node_modules/.bin/tsx bench/sandbox.ts
