# Shared by the end-to-end tests: starts `scripts/run` on free random ports with a temporary data
# directory (never .data/), waits until it says it is running, and stops it on exit. Source it
# from a test script; it sets root, ctl, work, run_pid and addr (members-svc's gRPC address) and
# defines fail.
root="$(cd "$(dirname "$0")/../.." && pwd)"
# The build scripts/run uses (LOYALTY_BUILD_DIR, as in scripts/lib/common.sh).
ctl="${LOYALTY_BUILD_DIR:-$root/build}/tests/loyaltyctl"
work="$(mktemp -d /tmp/loyalty-e2e.XXXXXX)"
chmod 755 "$work"  # The cluster runs as the postgres user when we are root.
run_pid=""

fail() { echo "FAIL: $*" >&2; tail -n 40 "$work/run.log" >&2 || true; exit 1; }
cleanup() {
  if [ -n "$run_pid" ] && kill -0 "$run_pid" 2>/dev/null; then kill -TERM "$run_pid"; wait "$run_pid" || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# export_free_port VARIABLE: exports VARIABLE as a random port in 20000-49999 that nothing
# listens on and that no earlier call handed out (two services must never draw the same one).
picked_ports=" "
export_free_port() {
  local port
  for _ in $(seq 1 50); do
    port=$((20000 + RANDOM % 30000))
    if [[ "$picked_ports" != *" $port "* ]] && ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      picked_ports+="$port "
      export "$1=$port"
      return
    fi
  done
  fail "no free port found"
}
export LOYALTY_DATA_DIR="$work/data"
export LOYALTY_RUN_SKIP_BUILD=1
for variable in LOYALTY_PG_PORT LOYALTY_MEMBERS_GRPC_PORT LOYALTY_MEMBERS_METRICS_PORT \
  LOYALTY_POINTS_GRPC_PORT LOYALTY_POINTS_METRICS_PORT LOYALTY_REWARDS_GRPC_PORT \
  LOYALTY_REWARDS_METRICS_PORT LOYALTY_GATEWAY_HTTP_PORT LOYALTY_GATEWAY_METRICS_PORT; do
  export_free_port "$variable"
done
addr="127.0.0.1:$LOYALTY_MEMBERS_GRPC_PORT"

"$root/scripts/run" >"$work/run.log" 2>&1 &
run_pid=$!
for _ in $(seq 1 120); do
  grep -q "Loyalty platform is running" "$work/run.log" && break
  kill -0 "$run_pid" 2>/dev/null || fail "scripts/run exited early"
  sleep 1
done
grep -q "Loyalty platform is running" "$work/run.log" || fail "scripts/run did not come up"

