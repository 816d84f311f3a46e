# The gRPC services on a PostgreSQL cluster of common.sh: their database roles, settings,
# migrations and start, shared by scripts/run, scripts/bench-events and the end-to-end tests
# that start the services themselves. Sourced after common.sh, not executed.
# shellcheck shell=bash

PLATFORM_SERVICES=(members-svc points-svc rewards-svc)

# platform_database DATA_DIR PG_PORT DB: the database and each service's role and schema.
platform_database() {
  local data_dir="$1" port="$2" db="$3"
  ensure_database "$data_dir" "$port" "$db"
  ensure_service_role "$data_dir" "$port" "$db" members loyalty_members
  ensure_service_role "$data_dir" "$port" "$db" points loyalty_points
  ensure_service_role "$data_dir" "$port" "$db" rewards loyalty_rewards
}

# platform_export DATA_DIR PG_PORT DB MEMBERS_GRPC MEMBERS_METRICS POINTS_GRPC POINTS_METRICS
#                 REWARDS_GRPC REWARDS_METRICS
# Exports the services' LOYALTY_* settings: each on 127.0.0.1 (unless its LISTEN_ADDRESS is set)
# with its own role over the cluster's socket, and each pointed at the others.
platform_export() {
  local data_dir="$1" port="$2" db="$3"
  local members_grpc="$4" members_metrics="$5" points_grpc="$6" points_metrics="$7"
  local rewards_grpc="$8" rewards_metrics="$9"
  local url="host=$data_dir/socket port=$port dbname=$db"
  export LOYALTY_LOG_LEVEL="${LOYALTY_LOG_LEVEL:-info}"
  export LOYALTY_MEMBERS_LISTEN_ADDRESS="${LOYALTY_MEMBERS_LISTEN_ADDRESS:-127.0.0.1}"
  export LOYALTY_MEMBERS_GRPC_PORT="$members_grpc"
  export LOYALTY_MEMBERS_METRICS_PORT="$members_metrics"
  export LOYALTY_MEMBERS_DATABASE_URL="$url user=loyalty_members"
  # Event streams (docs/events.md): members-svc follows points-svc's (and asks it for birthday
  # and referral bonuses) and, for webhooks, rewards-svc's too; points-svc follows members-svc's
  # and rewards-svc points-svc's. A consumer whose producer is not up yet retries with backoff.
  export LOYALTY_MEMBERS_POINTS_ADDR="127.0.0.1:$points_grpc"
  export LOYALTY_MEMBERS_REWARDS_ADDR="127.0.0.1:$rewards_grpc"
  # A developer's webhook receiver runs on this machine, which deliveries refuse by default.
  export LOYALTY_MEMBERS_WEBHOOK_ALLOW_PRIVATE_TARGETS="${LOYALTY_MEMBERS_WEBHOOK_ALLOW_PRIVATE_TARGETS:-true}"
  export LOYALTY_POINTS_LISTEN_ADDRESS="${LOYALTY_POINTS_LISTEN_ADDRESS:-127.0.0.1}"
  export LOYALTY_POINTS_GRPC_PORT="$points_grpc"
  export LOYALTY_POINTS_METRICS_PORT="$points_metrics"
  export LOYALTY_POINTS_DATABASE_URL="$url user=loyalty_points"
  export LOYALTY_POINTS_MEMBERS_ADDR="127.0.0.1:$members_grpc"
  export LOYALTY_REWARDS_LISTEN_ADDRESS="${LOYALTY_REWARDS_LISTEN_ADDRESS:-127.0.0.1}"
  export LOYALTY_REWARDS_GRPC_PORT="$rewards_grpc"
  export LOYALTY_REWARDS_METRICS_PORT="$rewards_metrics"
  export LOYALTY_REWARDS_DATABASE_URL="$url user=loyalty_rewards"
  export LOYALTY_REWARDS_POINTS_ADDR="127.0.0.1:$points_grpc"
  export LOYALTY_REWARDS_MEMBERS_ADDR="127.0.0.1:$members_grpc"
  # A development voucher key: vouchers issued under it are unusable under any other key.
  export LOYALTY_REWARDS_VOUCHER_KEY="${LOYALTY_REWARDS_VOUCHER_KEY:-loyalty-dev-voucher-key-not-for-production}"
}

# platform_migrate LOG_DIR: every service's migrations (after platform_export), output appended
# to LOG_DIR/<service>.log.
platform_migrate() {
  local logs="$1" name
  for name in "${PLATFORM_SERVICES[@]}"; do
    "$LOYALTY_BUILD_DIR/$name/$name" --migrate >>"$logs/$name.log" 2>&1 \
      || { tail -n 20 "$logs/$name.log" >&2; die "$name --migrate failed"; }
  done
}

# platform_start NAME GRPC_PORT LOG: starts the service NAME (members-svc, points-svc or
# rewards-svc) of the build in the background, output appended to LOG, waits up to 30 s until
# its health check answers SERVING, and sets service_pid (a child of the calling shell, so it
# can `wait` for it). A service that does not become healthy is stopped, and the script dies.
platform_start() {
  local name="$1" port="$2" log="$3"
  "$LOYALTY_BUILD_DIR/$name/$name" >>"$log" 2>&1 &
  service_pid=$!
  "$LOYALTY_BUILD_DIR/tests/loyaltyctl" --addr="127.0.0.1:$port" wait-healthy 30 >/dev/null \
    || { kill -TERM "$service_pid" 2>/dev/null; tail -n 20 "$log" >&2; die "$name did not become healthy"; }
}
