# Start and stop the local services (PostgreSQL, Redis, Temporal dev server, stripe-mock,
# SeaweedFS).
# Sourced after lib.sh. Every start_* takes a state directory and ports, waits until the
# service answers, and records how to stop it in STOP_ACTIONS (run by stop_services).
# Each runs in its own session (setsid, same pid): a Ctrl-C at the terminal reaches only the
# script, which stops the services after what depends on them. (Postgres and Redis detach
# themselves.)
STOP_ACTIONS=()

wait_for() { # wait_for <what> <seconds> <command...>
  local what="$1" secs="$2"; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || die "$what did not become ready within ${secs}s"
    sleep 0.2
  done
}

# PostgreSQL refuses to run as root: use the package's postgres account then.
pg_run() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

start_postgres() { # <dir> <port>
  local dir="$1" port="$2"
  mkdir -p "$dir"
  if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$dir"; fi
  if [ ! -f "$dir/PG_VERSION" ]; then
    local pw; pw="$(mktemp)"; echo hermes > "$pw"; if [ "$(id -u)" = 0 ]; then chown postgres "$pw"; fi
    pg_run "$PG_BIN/initdb" -D "$dir" -U hermes --pwfile="$pw" --auth=scram-sha-256 \
      --encoding=UTF8 --locale=C.UTF-8 >/dev/null
    rm -f "$pw"
  fi
  if ! pg_run "$PG_BIN/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
    pg_run "$PG_BIN/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 30 \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=${PG_FSYNC:-on}" start >/dev/null
  fi
  STOP_ACTIONS+=("pg_run $PG_BIN/pg_ctl -D $dir -m fast -w stop")
  PGPASSWORD=hermes "$PG_BIN/psql" -h 127.0.0.1 -p "$port" -U hermes -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname='hermes'" | grep -q 1 ||
    PGPASSWORD=hermes "$PG_BIN/psql" -h 127.0.0.1 -p "$port" -U hermes -d postgres -qc "CREATE DATABASE hermes" 
  export DATABASE_URL="postgres://hermes:hermes@127.0.0.1:$port/hermes"
}

start_redis() { # <dir> <port> <persist yes|no>
  local dir="$1" port="$2" persist="${3:-yes}"
  mkdir -p "$dir"
  if ! redis-cli -p "$port" ping >/dev/null 2>&1; then
    redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --appendonly "$persist" --save '' \
      --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
    wait_for "Redis" 15 redis-cli -p "$port" ping
  fi
  STOP_ACTIONS+=("redis-cli -p $port shutdown nosave")
  export REDIS_URL="redis://127.0.0.1:$port"
}

# Hermes' custom search attributes: registered by the dev server at start.
TEMPORAL_SEARCH_ATTRIBUTES=(HermesStatus=Keyword HermesUserId=Keyword HermesAgentId=Keyword HermesRewardCents=Int)

start_temporal() { # <dir> <port> <ui-port>
  local dir="$1" port="$2" ui="$3" args=()
  mkdir -p "$dir"
  for sa in "${TEMPORAL_SEARCH_ATTRIBUTES[@]}"; do args+=(--search-attribute "$sa"); done
  setsid "$TEMPORAL_CLI" server start-dev --db-filename "$dir/temporal.db" --ip 127.0.0.1 \
    --port "$port" --ui-port "$ui" --log-level warn "${args[@]}" > "$dir/temporal.log" 2>&1 &
  local pid=$!
  STOP_ACTIONS+=("kill_wait $pid")
  wait_for "Temporal (see $dir/temporal.log)" 60 \
    "$TEMPORAL_CLI" operator cluster health --address "127.0.0.1:$port"
  export TEMPORAL_ADDRESS="127.0.0.1:$port"
  export TEMPORAL_UI_URL="http://127.0.0.1:$ui"
}

start_stripe_mock() { # <dir> <port>
  local dir="$1" port="$2"
  mkdir -p "$dir"
  setsid "$STRIPE_MOCK" -http-addr "127.0.0.1:$port" -https-addr "127.0.0.1:" > "$dir/stripe-mock.log" 2>&1 &
  STOP_ACTIONS+=("kill_wait $!")
  wait_for "stripe-mock" 30 curl -sf -o /dev/null -H 'Authorization: Bearer sk_test_123' \
    "http://127.0.0.1:$port/v1/customers"
  export STRIPE_API_URL="http://127.0.0.1:$port"
}

# SeaweedFS as the S3 server: master, volume, filer and S3 gateway in one process. Every port
# is explicit (gRPC ports default to port+10000, which overflows for high test ports).
start_seaweedfs() { # <dir> <base-port>: uses base .. base+9
  local dir="$1" base="$2"
  mkdir -p "$dir"
  export S3_ACCESS_KEY_ID="${S3_ACCESS_KEY_ID:-hermes}" S3_SECRET_ACCESS_KEY="${S3_SECRET_ACCESS_KEY:-hermes-local-secret}"
  cat > "$dir/s3.json" <<JSON
{"identities":[{"name":"hermes","credentials":[{"accessKey":"$S3_ACCESS_KEY_ID","secretKey":"$S3_SECRET_ACCESS_KEY"}],
  "actions":["Admin","Read","Write","List","Tagging"]}]}
JSON
  setsid "$WEED" server -dir="$dir" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
    -master.port=$base -master.port.grpc=$((base + 1)) -master.volumeSizeLimitMB=64 \
    -volume.port=$((base + 2)) -volume.port.grpc=$((base + 3)) -volume.max=16 -volume.preStopSeconds=0 \
    -filer -filer.port=$((base + 4)) -filer.port.grpc=$((base + 5)) \
    -s3 -s3.port=$((base + 6)) -s3.port.grpc=$((base + 7)) -s3.port.iceberg=0 -s3.port.lance=0 \
    -s3.config="$dir/s3.json" > "$dir/seaweedfs.log" 2>&1 &
  STOP_ACTIONS+=("kill_wait $!")
  export S3_ENDPOINT="http://127.0.0.1:$((base + 6))"
  # Any HTTP answer (403 without credentials) means the gateway is serving.
  wait_for "SeaweedFS S3 (see $dir/seaweedfs.log)" 60 \
    sh -c "curl -s -o /dev/null -w '%{http_code}' $S3_ENDPOINT/ | grep -q 403"
}

kill_wait() { kill "$1" 2>/dev/null || return 0; for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done; kill -9 "$1" 2>/dev/null || true; }

stop_services() {
  local i
  for ((i = ${#STOP_ACTIONS[@]} - 1; i >= 0; i--)); do eval "${STOP_ACTIONS[$i]}" >/dev/null 2>&1 || true; done
  STOP_ACTIONS=()
}
