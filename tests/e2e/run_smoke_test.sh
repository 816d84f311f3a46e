#!/usr/bin/env bash
# Smoke test of `scripts/run`, the way a developer uses it: start everything, talk to the
# services as a client would, stop with a signal, and check that nothing is left running.
# Runs on free random ports and a temporary data directory, so it never touches .data/.
set -euo pipefail
source "$(dirname "$0")/run_lib.sh"

[ "$("$ctl" --addr="$addr" health)" = SERVING ] || fail "health is not SERVING"
"$ctl" --addr="$addr" call loyalty.members.v1.MembersService/GetProgram '{"program":"demo"}' \
  | grep -q '"id": "demo"' || fail "the demo program was not seeded"
enrolled="$("$ctl" --addr="$addr" call loyalty.members.v1.MembersService/EnrollMember \
  '{"program":"demo","requestId":"smoke-1","profile":{"email":"smoke@example.com"}}')" \
  || fail "EnrollMember did not work"
grep -q '"tier": "bronze"' <<<"$enrolled" || fail "EnrollMember answered without a tier"
member="$(sed -n 's/^ *"id": "\(m[a-z0-9]*\)".*/\1/p' <<<"$enrolled" | head -n 1)"
[ -n "$member" ] || fail "no member id in the enrolment answer"
points_addr="127.0.0.1:$LOYALTY_POINTS_GRPC_PORT"
"$ctl" --addr="$points_addr" call loyalty.points.v1.PointsService/RecordPurchase \
  "{\"program\":\"demo\",\"member\":\"$member\",\"requestId\":\"smoke-buy\",\"orderId\":\"S-1\",\"currencyCode\":\"EUR\",\"totalMinor\":\"4999\"}" \
  | grep -q '"points": "49"' || fail "RecordPurchase through points-svc did not earn 49 points"
# The purchase reaches members-svc as qualifying points through points-svc's event stream.
qualified=""
for _ in $(seq 1 100); do
  if "$ctl" --addr="$addr" call loyalty.members.v1.MembersService/GetTierStatus \
      "{\"program\":\"demo\",\"member\":\"$member\"}" | grep -q '"qualifyingPoints": "49"'; then
    qualified=yes
    break
  fi
  sleep 0.2
done
[ -n "$qualified" ] || fail "the purchase never reached members-svc's qualifying points"

# The gateway answers REST with the demo admin key (plain HTTP over bash, no curl needed).
exec 3<>"/dev/tcp/127.0.0.1/$LOYALTY_GATEWAY_HTTP_PORT"
printf 'GET /v1/programs/demo/members/%s HTTP/1.0\r\nHost: localhost\r\nx-api-key: demo-admin-key-not-for-production\r\n\r\n' "$member" >&3
rest="$(cat <&3)"
exec 3<&-
grep -q '^HTTP/1.[01] 200' <<<"$rest" || fail "GET member through the gateway did not answer 200"
grep -q '"tier":"bronze"' <<<"$rest" || grep -q '"tier": "bronze"' <<<"$rest" \
  || fail "the gateway's member answer has no tier"

# The wallet through the gateway has every part, rewards-svc's included.
exec 3<>"/dev/tcp/127.0.0.1/$LOYALTY_GATEWAY_HTTP_PORT"
printf 'GET /v1/programs/demo/members/%s/wallet HTTP/1.0\r\nHost: localhost\r\nx-api-key: demo-admin-key-not-for-production\r\n\r\n' "$member" >&3
wallet="$(cat <&3)"
exec 3<&-
grep -q '^HTTP/1.[01] 200' <<<"$wallet" || fail "GET wallet through the gateway did not answer 200"
grep -q '"partial":\[\]' <<<"$wallet" || fail "the wallet is partial: $(tail -c 300 <<<"$wallet")"
grep -q '"openVouchers":\[\]' <<<"$wallet" || fail "the wallet has no rewards part"

# Metrics over plain HTTP without curl (not on a fresh machine).
exec 3<>"/dev/tcp/127.0.0.1/$LOYALTY_MEMBERS_METRICS_PORT"
printf 'GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
metrics="$(cat <&3)"
exec 3<&-
grep -q 'grpc_server_handled_total{grpc_code="OK",grpc_method="EnrollMember"' <<<"$metrics" \
  || grep -q 'grpc_method="EnrollMember".*grpc_code="OK"' <<<"$metrics" \
  || fail "metrics do not count EnrollMember"
grep -q 'loyalty_event_consumer_lag_events{stream="points"}' <<<"$metrics" \
  || fail "members-svc does not export its consumer's lag"
# points-svc follows members-svc, rewards-svc follows points-svc.
for consumer in "$LOYALTY_POINTS_METRICS_PORT members" "$LOYALTY_REWARDS_METRICS_PORT points"; do
  read -r port stream <<<"$consumer"
  exec 3<>"/dev/tcp/127.0.0.1/$port"
  printf 'GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
  metrics="$(cat <&3)"
  exec 3<&-
  grep -q "loyalty_event_consumer_lag_events{stream=\"$stream\"}" <<<"$metrics" \
    || fail "the consumer of stream $stream does not export its lag on port $port"
done

kill -TERM "$run_pid"
wait "$run_pid" || true
run_pid=""
grep -q "stopped" "$work/run.log" || fail "scripts/run did not stop cleanly"
for service_addr in "$addr" "$points_addr" "127.0.0.1:$LOYALTY_REWARDS_GRPC_PORT"; do
  if "$ctl" --addr="$service_addr" --deadline-ms=1000 health >/dev/null 2>&1; then
    fail "$service_addr still answers after stop"
  fi
done
[ ! -f "$LOYALTY_DATA_DIR/pgdata/postmaster.pid" ] || fail "PostgreSQL still running after stop"
echo "scripts/run smoke test passed"
