#!/usr/bin/env bash
# Merchant webhooks end to end (issue 6 part 3, docs/webhooks.md): every service a real process
# on a real PostgreSQL (scripts/run), endpoints registered through the gateway's REST API with the
# admin key, and a local receiver (tests/tools/webhook_receiver.cc) that fails its first three
# requests. Checks: each subscribed event is delivered, under its event id, with a signature this
# script verifies with openssl; no event is acknowledged twice; an endpoint nobody listens on
# ends in the dead letters without delaying the healthy one, and is visible through the API.
set -euo pipefail
# Short retries, so that three failures and a dead letter take seconds (docs/configuration.md).
export LOYALTY_MEMBERS_WEBHOOK_BACKOFF_INITIAL_MS=200
export LOYALTY_MEMBERS_WEBHOOK_BACKOFF_MAX_MS=1000
export LOYALTY_MEMBERS_WEBHOOK_MAX_ATTEMPTS=4
export LOYALTY_MEMBERS_WEBHOOK_TIMEOUT_MS=2000
export LOYALTY_MEMBERS_WEBHOOK_POLL_INTERVAL_MS=100
# The receiver listens on this machine, which deliveries refuse by default.
export LOYALTY_MEMBERS_WEBHOOK_ALLOW_PRIVATE_TARGETS=true
source "$(dirname "$0")/run_lib.sh"
command -v openssl >/dev/null && command -v jq >/dev/null || fail "needs openssl and jq"

receiver="${LOYALTY_BUILD_DIR:-$root/build}/tests/webhook-receiver"
mkdir -p "$work/hooks"
"$receiver" "$work/receiver.port" "$work/hooks" 3 &
receiver_pid=$!
trap 'kill "$receiver_pid" 2>/dev/null || true; cleanup' EXIT
for _ in $(seq 1 50); do [ -s "$work/receiver.port" ] && break; sleep 0.1; done
port="$(cat "$work/receiver.port")" || fail "the receiver did not start"

gateway="http://127.0.0.1:$LOYALTY_GATEWAY_HTTP_PORT"
admin_key="${LOYALTY_DEMO_ADMIN_KEY:-demo-admin-key-not-for-production}"
# api METHOD PATH [BODY] [IDEMPOTENCY_KEY]: the JSON answer; anything but 2xx fails the test.
api() {
  local args=(-sS -X "$1" -w '\n%{http_code}' -H 'content-type: application/json'
              -H "x-api-key: $admin_key")
  [ -n "${4:-}" ] && args+=(-H "idempotency-key: $4")
  [ -n "${3:-}" ] && args+=(-d "$3")
  local out
  out="$(curl "${args[@]}" "$gateway$2")" || fail "$1 $2: no answer"
  case "$(tail -n 1 <<<"$out")" in
    2??) sed '$d' <<<"$out" ;;
    *) fail "$1 $2 answered: $out" ;;
  esac
}
types='["loyalty.members.v1.MemberEnrolled","loyalty.points.v1.PointsEarned"]'
healthy="$(api POST /v1/programs/demo/webhooks \
  "{\"url\":\"http://127.0.0.1:$port/hooks/loyalty\",\"eventTypes\":$types}" register-healthy)"
secret="$(jq -r .webhook.secret <<<"$healthy")"
[[ "$secret" == whsec_* ]] || fail "no secret in $healthy"
# Port 1 on loopback: nothing listens, every attempt is refused.
dead="$(api POST /v1/programs/demo/webhooks \
  "{\"url\":\"http://127.0.0.1:1/hooks\",\"eventTypes\":$types}" register-dead)"
dead_id="$(jq -r .webhook.id <<<"$dead")"

# Two enrolments and a purchase: three subscribed events for each endpoint.
member="$(api POST /v1/programs/demo/members '{"profile":{"email":"hook-1@example.com"}}' enrol-1 \
  | jq -r .member.id)"
api POST /v1/programs/demo/members '{"profile":{"email":"hook-2@example.com"}}' enrol-2 >/dev/null
api POST "/v1/programs/demo/members/$member/purchases" \
  '{"orderId":"hook-o1","currencyCode":"EUR","totalMinor":"2500"}' buy-1 >/dev/null

# Three failed requests, then the three events acknowledged.
delivered_ids() {
  for status in "$work"/hooks/*.status; do
    [ -e "$status" ] || continue
    [ "$(cat "$status")" = 200 ] && grep '^webhook-id: ' "${status%.status}.headers" | cut -d' ' -f2
  done | sort
}
for _ in $(seq 1 300); do
  [ "$(delivered_ids | wc -l)" -ge 3 ] && break
  sleep 0.1
done
[ "$(delivered_ids | wc -l)" -eq 3 ] || fail "expected 3 acknowledged deliveries: $(ls "$work/hooks")"
[ "$(delivered_ids | uniq | wc -l)" -eq 3 ] || fail "an event was acknowledged twice"
failed="$(grep -l '^500$' "$work"/hooks/*.status | wc -l)"
[ "$failed" -eq 3 ] || fail "expected the first 3 requests to fail, $failed did"

# Every request, failed or not, is signed over id.timestamp.body with the endpoint's secret.
key_hex="$(printf '%s' "${secret#whsec_}" | base64 -d | od -An -tx1 | tr -d ' \n')"
types_seen=""
for headers in "$work"/hooks/*.headers; do
  body="${headers%.headers}.body"
  id="$(grep '^webhook-id: ' "$headers" | cut -d' ' -f2)"
  timestamp="$(grep '^webhook-timestamp: ' "$headers" | cut -d' ' -f2)"
  signature="$(grep '^webhook-signature: ' "$headers" | cut -d' ' -f2)"
  expected="v1,$({ printf '%s.%s.' "$id" "$timestamp"; cat "$body"; } \
    | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$key_hex" -binary | base64)"
  [ "$signature" = "$expected" ] || fail "bad signature on $headers"
  [ "$(jq -r .id "$body")" = "$id" ] || fail "body id differs from webhook-id in $body"
  [ "$(jq -r .program "$body")" = demo ] || fail "wrong program in $body"
  types_seen="$types_seen $(jq -r .type "$body")"
done
for type in loyalty.members.v1.MemberEnrolled loyalty.points.v1.PointsEarned; do
  grep -q "$type" <<<"$types_seen" || fail "no $type delivered"
done

# The endpoint nobody listens on: three dead letters, visible and retryable through the API.
dead_letters() {
  api GET "/v1/programs/demo/webhooks/$dead_id/deliveries?state=DELIVERY_STATE_DEAD" \
    | jq '.deliveries // [] | length'
}
for _ in $(seq 1 300); do [ "$(dead_letters)" -ge 3 ] && break; sleep 0.1; done
[ "$(dead_letters)" -eq 3 ] || fail "expected 3 dead letters, got $(dead_letters)"
letter="$(api GET "/v1/programs/demo/webhooks/$dead_id/deliveries?state=DELIVERY_STATE_DEAD" \
  | jq -c '.deliveries[0]')"
[ "$(jq -r .attempts <<<"$letter")" = 4 ] || fail "dead letter after other than 4 attempts: $letter"
api POST "/v1/programs/demo/webhooks/$dead_id/deliveries/$(jq -r .id <<<"$letter"):retry" '{}' \
  retry-1 | jq -e '.delivery.state == "DELIVERY_STATE_PENDING"' >/dev/null \
  || fail "retry did not put the dead letter back to pending"
echo "webhooks end-to-end test passed"
