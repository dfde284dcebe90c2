# The chaos run's own stack: ports apart from the dev stack (`npm start`) and the tests
# (`npm test`), and below Linux's ephemeral range (32768+), where an outgoing connection could
# hold a port a restarted service needs; state in $CHAOS_RUN_DIR. Sourced after lib.sh and services.sh, by chaos.sh to
# start it and by restart-service.sh when the run restarts Temporal or Postgres mid-flight.
CHAOS_PG_PORT="${CHAOS_PG_PORT:-25582}"
CHAOS_REDIS_PORT="${CHAOS_REDIS_PORT:-26529}"
CHAOS_STRIPE_PORT="${CHAOS_STRIPE_PORT:-12349}"
CHAOS_SEAWEEDFS_BASE_PORT="${CHAOS_SEAWEEDFS_BASE_PORT:-29000}"
CHAOS_TEMPORAL_PORT="${CHAOS_TEMPORAL_PORT:-27383}"
CHAOS_TEMPORAL_UI_PORT="${CHAOS_TEMPORAL_UI_PORT:-28383}"
CHAOS_API_PORT="${CHAOS_API_PORT:-23349}"
export CHAOS_PG_PORT CHAOS_REDIS_PORT CHAOS_STRIPE_PORT CHAOS_SEAWEEDFS_BASE_PORT CHAOS_TEMPORAL_PORT CHAOS_TEMPORAL_UI_PORT CHAOS_API_PORT

# fsync off: an immediate stop is a crash of the server, not of the machine, so nothing is lost.
chaos_start_postgres() { PG_FSYNC=off start_postgres "$CHAOS_RUN_DIR/postgres" "$CHAOS_PG_PORT"; }

# start_temporal keeps the pid only in STOP_ACTIONS; the run needs it in a file, because a
# restart happens in another shell.
chaos_start_temporal() {
  start_temporal "$CHAOS_RUN_DIR/temporal" "$CHAOS_TEMPORAL_PORT" "$CHAOS_TEMPORAL_UI_PORT"
  local last="${STOP_ACTIONS[${#STOP_ACTIONS[@]} - 1]}"
  echo "${last#kill_wait }" > "$CHAOS_RUN_DIR/temporal.pid"
}

chaos_start_stack() {
  local port
  for port in "$CHAOS_PG_PORT" "$CHAOS_REDIS_PORT" "$CHAOS_STRIPE_PORT" "$CHAOS_TEMPORAL_PORT" "$CHAOS_TEMPORAL_UI_PORT" \
    "$CHAOS_API_PORT" $(seq "$CHAOS_SEAWEEDFS_BASE_PORT" $((CHAOS_SEAWEEDFS_BASE_PORT + 7))); do
    if (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then die "port $port is taken: is another chaos run going? (CHAOS_*_PORT move them)"; fi
  done
  chaos_start_postgres
  start_redis "$CHAOS_RUN_DIR/redis" "$CHAOS_REDIS_PORT" no
  start_stripe_mock "$CHAOS_RUN_DIR/stripe" "$CHAOS_STRIPE_PORT"
  start_seaweedfs "$CHAOS_RUN_DIR/seaweedfs" "$CHAOS_SEAWEEDFS_BASE_PORT"
  chaos_start_temporal
}

chaos_stop_stack() {
  [ -f "$CHAOS_RUN_DIR/temporal.pid" ] && kill_wait "$(cat "$CHAOS_RUN_DIR/temporal.pid")"
  stop_services
}
